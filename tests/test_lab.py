"""JupyterLab from the lock starts, serves its page and offers the project's kernel, which imports mscreview.

One server for the module: started on a free loopback port (the server picks it, port 0, and reports
it in its runtime file), no browser, a token set here, a temporary root, runtime, config and data
directory (so nothing in the user's home shadows or receives anything), and always stopped.
"""
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "mscreview"
DISPLAY = "Python 3 (mscreview)"
# Generous: a cold JupyterLab start on a loaded 2-core machine can take tens of seconds.
STARTUP_TIMEOUT = float(os.environ.get("MSCREVIEW_LAB_STARTUP_TIMEOUT", "90"))


def _log_tail(log, n=40):
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _get(url, token, timeout=10, method="GET", data=None):
    req = urllib.request.Request(url, method=method, data=data,
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode("utf-8", "replace")


def _stop(proc):
    """Terminate the server's process group (it was started in a new session), kill if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    # whatever is left of the group (kernels, terminals) goes too
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=10)


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    root, runtime, config, data, home_lab = (tmp / d for d in ("root", "runtime", "config", "data", "lab"))
    for d in (root, runtime, config, data, home_lab):
        d.mkdir()
    (root / "hello.txt").write_text("hello\n")
    token = secrets.token_hex(16)
    env = dict(os.environ,
               JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_CONFIG_DIR=str(config),
               JUPYTER_DATA_DIR=str(data),  # a user-level kernel spec must not shadow the environment's
               JUPYTERLAB_SETTINGS_DIR=str(home_lab / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home_lab / "workspaces"),
               JUPYTER_PLATFORM_DIRS="1")
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_TOKEN", None)
    cmd = [sys.executable, "-m", "jupyterlab",
           "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}",
           "--ServerApp.open_browser=False"]
    log = tmp / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        info_file = runtime / f"jpserver-{proc.pid}.json"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        base = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode} before serving:\n{_log_tail(log)}")
            if base is None and info_file.exists():
                try:
                    info = json.loads(info_file.read_text())
                    base = f"http://127.0.0.1:{info['port']}{info.get('base_url', '/')}"
                except (ValueError, KeyError):
                    base = None  # written but not complete yet
            if base is not None:
                try:
                    status, _, _ = _get(base + "api/status", token, timeout=5)
                    if status == 200:
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    pass
            time.sleep(0.5)
        else:
            pytest.fail(f"jupyter lab did not answer within {STARTUP_TIMEOUT:.0f} s:\n{_log_tail(log)}")
        yield {"base": base, "token": token, "root": root, "log": log, "proc": proc}
    finally:
        _stop(proc)
        assert not _group_alive(proc.pid), f"jupyter lab left processes behind (group {proc.pid})"


def test_lab_page_is_served(lab):
    status, ctype, body = _get(lab["base"] + "lab", lab["token"], timeout=30)
    assert status == 200 and "text/html" in ctype
    assert "<title>JupyterLab</title>" in body and "jupyter-config-data" in body, body[:500]


def test_lab_serves_the_root_dir_it_was_given(lab):
    status, _, body = _get(lab["base"] + "api/contents/hello.txt?content=1", lab["token"], timeout=30)
    assert status == 200 and json.loads(body)["content"] == "hello\n"


def test_api_requires_the_token(lab):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(lab["base"] + "api/kernelspecs", timeout=30)
    assert err.value.code == 403


def _kernelspecs(lab):
    status, _, body = _get(lab["base"] + "api/kernelspecs", lab["token"], timeout=30)
    assert status == 200
    return json.loads(body)["kernelspecs"]


def test_project_kernel_is_listed(lab):
    specs = _kernelspecs(lab)
    assert KERNEL in specs, f"kernels offered: {sorted(specs)} (the mscreview kernel is installed by `make venv`)"
    spec = specs[KERNEL]["spec"]
    assert spec["display_name"] == DISPLAY and spec["language"] == "python"


def test_project_kernel_interpreter_imports_mscreview(lab, tmp_path):
    spec = _kernelspecs(lab)[KERNEL]["spec"]
    argv = spec["argv"]
    assert argv[1:] and "ipykernel_launcher" in argv and "{connection_file}" in argv, argv
    probe = ("import mscreview, pathlib, sys; "
             "print(pathlib.Path(mscreview.__file__).resolve()); print(sys.prefix)")
    # run from an unrelated folder, so the import cannot come from the working directory
    res = subprocess.run([argv[0], "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{argv[0]} cannot import mscreview:\n{res.stderr}"
    module_file, prefix = res.stdout.strip().splitlines()[-2:]
    assert Path(module_file).is_relative_to(ROOT / "src" / "mscreview"), module_file
    # the kernel runs in the same environment as the server (the venv, or Binder's env)
    assert Path(prefix).resolve() == Path(sys.prefix).resolve(), (prefix, sys.prefix)


def _execute(lab, kid, code, timeout):
    """Run code in a server-side kernel over its websocket (the way JupyterLab does); return stdout."""
    import websocket  # websocket-client, pinned in the lock (a jupyter_server dependency)

    ws = websocket.create_connection(
        lab["base"].replace("http://", "ws://") + f"api/kernels/{kid}/channels",
        header=[f"Authorization: token {lab['token']}"], timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        # the reply (shell channel) can arrive before the output (iopub): read until the kernel
        # reports idle for this request, which comes after every output of it
        out, reply, idle, deadline = [], None, False, time.monotonic() + timeout
        while not (reply is not None and idle) and time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "execute_reply":
                reply = msg["content"]
            elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
        assert reply is not None, f"no execute_reply within {timeout:.0f} s:\n{_log_tail(lab['log'])}"
        assert reply["status"] == "ok", "".join(out)
        return "".join(out)
    finally:
        ws.close()


def test_server_runs_the_project_kernel_and_it_imports_mscreview(lab):
    """JupyterLab's server launches the mscreview kernel and code run in it imports this checkout's package."""
    _, _, body = _get(lab["base"] + "api/kernels", lab["token"], timeout=60, method="POST",
                      data=json.dumps({"name": KERNEL}).encode())
    kid = json.loads(body)["id"]
    try:
        out = _execute(lab, kid, "import mscreview, pathlib\nprint(pathlib.Path(mscreview.__file__).resolve())",
                       timeout=STARTUP_TIMEOUT)
        assert Path(out.strip().splitlines()[-1]).is_relative_to(ROOT / "src" / "mscreview"), out
    finally:
        _get(lab["base"] + f"api/kernels/{kid}", lab["token"], timeout=60, method="DELETE")


def test_jupyterlab_is_the_locked_4x(tmp_path):
    res = subprocess.run([sys.executable, "-m", "jupyterlab", "--version"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120,
                         env=dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path)))
    assert res.returncode == 0 and res.stdout.strip().startswith("4."), res.stdout + res.stderr
