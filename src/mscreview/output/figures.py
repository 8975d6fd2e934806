"""Figure style and the one export function.

Every figure of the review is drawn by a function of :mod:`mscreview.output.plotting`
(which takes ``ax=`` or returns a Figure and never saves) and written to disk
by :func:`export` only. Export writes PDF (TrueType/Type 42 fonts embedded),
SVG, PNG at 600 dpi and TIFF (LZW) at a journal width, with fixed metadata so
two builds produce byte-identical files, and records the caption, the notebook
and a hash of the plotted data for ``figures/README.md``.

The style is applied inside :func:`style` (a context manager): seaborn's ``ticks`` style and
``paper`` context, then the review's own settings (:data:`STYLE`) on top; importing this module,
or calling a plotting function, changes nothing global.

A figure is laid out for the width it is exported at: every plotting function takes ``width=``,
and :func:`export` at another width than the figure was built for calls the plotting function
again at that width (wrapping labels and sizing rows for it) instead of shrinking the drawing.

Where files go
--------------
During ``python -m mscreview build`` the environment variable
``MSCREVIEW_STAGE`` names a staging directory; figures are written there and
moved into ``figures/`` only when every notebook has succeeded, so a failing
build leaves no half-written figure. Run interactively (no staging variable),
files go straight to ``figures/``, each written to a temporary name first and
renamed into place.

References
----------
Okabe M, Ito K (2008). Color Universal Design (CUD): how to make figures and
presentations that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from . import records

MM_PER_INCH = 25.4

#: Journal column widths in millimetres (Elsevier/Springer/BMC single and double column).
WIDTHS_MM = {"single": 85.0, "double": 174.0}

#: Okabe-Ito colour-blind-safe palette (name -> hex), in the order used for categories.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: Category cycle: black and yellow are kept out (black is reserved for pooled
#: estimates and reference lines, yellow is too light on white for markers).
PALETTE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion",
                                   "reddish_purple", "sky_blue", "yellow", "black")]

#: Raster resolution for PNG and TIFF.
DPI = 600

#: Formats written by :func:`export`, in order.
FORMATS = ("pdf", "svg", "png", "tiff")

_SOFTWARE = "mscreview"

#: rcParams applied inside :func:`style` (never at import).
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],   # shipped with matplotlib: identical on every machine
    "font.size": 7.0,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7.0,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5,
    "legend.frameon": False,
    "figure.titlesize": 8.0,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlelocation": "left",
    "axes.titleweight": "bold",
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "lines.linewidth": 0.8,
    "lines.markersize": 3.5,
    "patch.linewidth": 0.5,
    "hatch.linewidth": 0.5,
    "image.cmap": "cividis",
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": "mscreview",
    "path.simplify": False,
    "axes.unicode_minus": True,
}


def style_params() -> dict:
    """The rcParams of :func:`style`: seaborn's ``ticks`` style and ``paper`` context, overridden by
    :data:`STYLE` and the Okabe-Ito colour cycle (nothing is applied)."""
    import seaborn as sns
    from cycler import cycler

    params = {**sns.axes_style("ticks"), **sns.plotting_context("paper"), **STYLE}
    params["axes.prop_cycle"] = cycler(color=PALETTE)
    return params


@contextlib.contextmanager
def style():
    """Apply the review's figure style for the duration of a ``with`` block.

    seaborn's ``ticks`` style and ``paper`` context (through ``rc_context``, never
    ``seaborn.set_theme``), then the Okabe-Ito colour cycle, 7-pt DejaVu Sans, Type 42 fonts and a
    fixed SVG hash salt; the previous rcParams are restored on exit.
    """
    import matplotlib as mpl

    params = style_params()
    with mpl.rc_context(params):
        yield


def width_inches(width: str | float) -> float:
    """Width in inches for ``"single"`` (85 mm), ``"double"`` (174 mm) or a number of mm."""
    if isinstance(width, str):
        if width not in WIDTHS_MM:
            raise ValueError(f"width must be one of {sorted(WIDTHS_MM)} or millimetres, got {width!r}")
        mm = WIDTHS_MM[width]
    else:
        mm = float(width)
        if not 20.0 <= mm <= 260.0:
            raise ValueError(f"width {mm} mm is outside 20-260 mm")
    return mm / MM_PER_INCH


def new_figure(width: str | float = "double", height_mm: float | None = None, *, nrows=1, ncols=1, **kw):
    """Create a constrained-layout figure at a journal width (call inside :func:`style`)."""
    import matplotlib.pyplot as plt

    w = width_inches(width)
    h = (height_mm / MM_PER_INCH) if height_mm is not None else w * 0.62
    # a pyplot figure, so it shows inline in Jupyter (the inline backend closes it after the cell)
    fig = plt.figure(figsize=(w, h), layout="constrained")
    axes = fig.subplots(nrows, ncols, **kw) if nrows and ncols else None
    return fig, axes


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


@dataclass(frozen=True)
class ExportedFigure:
    """What :func:`export` wrote: the figure id, caption, notebook, data hash and files."""

    name: str
    caption: str
    notebook: str
    data_hash: str
    width_mm: float
    height_mm: float
    files: tuple[str, ...] = field(default_factory=tuple)
    preview: bytes = field(default=b"", repr=False, compare=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "caption": self.caption, "notebook": self.notebook,
                "data_hash": self.data_hash, "width_mm": self.width_mm,
                "height_mm": self.height_mm, "files": list(self.files)}

    def _repr_markdown_(self) -> str:
        files = ", ".join(f"`{Path(f).name}`" for f in self.files)
        return (f"**Figure `{self.name}`** ({self.width_mm:.0f} x {self.height_mm:.0f} mm): "
                f"{self.caption}  \nFiles: {files}; data hash `{self.data_hash}`.")

    def _repr_html_(self) -> str:
        import base64
        import html

        img = (f'<img src="data:image/png;base64,{base64.b64encode(self.preview).decode()}" '
               f'style="max-width:100%" alt="{html.escape(self.name)}"/>' if self.preview else "")
        files = ", ".join(f"<code>{html.escape(Path(f).name)}</code>" for f in self.files)
        return (f"<figure>{img}<figcaption><b>Figure <code>{html.escape(self.name)}</code></b> "
                f"({self.width_mm:.0f} x {self.height_mm:.0f} mm): {html.escape(self.caption)}<br/>"
                f"Files: {files}; data hash <code>{self.data_hash}</code>.</figcaption></figure>")


class ExportedFigures(list):
    """Several exported figures; shows each (preview and caption) in Jupyter."""

    def _repr_html_(self) -> str:
        if not self:
            return "<p><i>No figure: the data do not allow this analysis (see the table above).</i></p>"
        return "\n".join(f._repr_html_() for f in self)


def stage_dir() -> Path | None:
    """The build's staging directory, or None when run interactively."""
    s = os.environ.get("MSCREVIEW_STAGE")
    return Path(s) if s else None


def output_dir() -> Path:
    """Directory figures are written to (staging during a build, else ``figures/``)."""
    st = stage_dir()
    return (st / "figures") if st else paths.FIGURES


def data_hash(data=None) -> str:
    """Short SHA-256 of the data behind a figure.

    ``data`` may be a DataFrame (hashed as CSV), bytes, str, a JSON-able object,
    or a list of those. With ``None``, the hash of the review's data tables
    (``data/*.csv``) is used.
    """
    h = hashlib.sha256()

    def feed(obj):
        if obj is None:
            return
        if hasattr(obj, "to_csv"):
            h.update(obj.to_csv(index=True, lineterminator="\n").encode())
        elif isinstance(obj, bytes):
            h.update(obj)
        elif isinstance(obj, str):
            h.update(obj.encode())
        elif isinstance(obj, (list, tuple)):
            for o in obj:
                feed(o)
        else:
            h.update(json.dumps(obj, sort_keys=True, default=str).encode())

    if data is None:
        for p in sorted(paths.DATA.glob("*.csv")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    else:
        feed(data)
    return h.hexdigest()[:12]


def _atomic_write(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def _rgb_image(fig, dpi: int = DPI):
    """The figure rendered once by Agg at ``dpi`` as a PIL RGB image."""
    from PIL import Image

    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=dpi)
    buf = raw.getvalue()
    # Agg truncates the pixel size (int(width_in * dpi)); derive the height from the buffer
    w = int(fig.get_size_inches()[0] * dpi)
    h, rem = divmod(len(buf), 4 * w)
    if rem:
        raise RuntimeError(f"unexpected raster size for a {w}-pixel-wide figure ({len(buf)} bytes)")
    return Image.frombuffer("RGBA", (w, h), buf, "raw", "RGBA", 0, 1).convert("RGB")


def _freeze_layout(fig) -> None:
    """Run the layout engine to convergence, then fix the axes positions.

    Constrained layout starts each draw from the previous positions and
    measures text at the renderer's dpi, so PDF (72 dpi) and PNG (600 dpi)
    would get slightly different layouts, and a second export of the same
    figure different bytes. Laying out once and freezing makes every format,
    and every export, use the same geometry.
    """
    if fig.get_layout_engine() is None:
        return
    fig.draw_without_rendering()   # constrained layout runs its two passes inside one draw
    fig.set_layout_engine("none")


#: Width in pixels of the inline preview shown in Jupyter (from the 600-dpi raster).
PREVIEW_PX = 900


def _preview(image) -> bytes:
    from PIL import Image

    w, h = image.size
    small = image.resize((PREVIEW_PX, max(1, round(h * PREVIEW_PX / w))), Image.Resampling.BOX)
    out = io.BytesIO()
    small.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def render(fig, fmt: str, image=None, dpi: int = DPI) -> bytes:
    """Bytes of ``fig`` in ``fmt`` with fixed metadata (call inside :func:`style`).

    ``image`` (from one Agg render) is reused for PNG and TIFF, since rendering at
    600 dpi dominates the export time.
    """
    buf = io.BytesIO()
    if fmt == "pdf":
        fig.savefig(buf, format="pdf", metadata={
            "Creator": _SOFTWARE, "Producer": _SOFTWARE, "CreationDate": None, "ModDate": None})
    elif fmt == "svg":
        fig.savefig(buf, format="svg", metadata={"Creator": _SOFTWARE, "Date": None})
    elif fmt in ("png", "tiff"):
        img = image if image is not None else _rgb_image(fig, dpi)
        if fmt == "png":
            # PIL writes no time or software chunk: only IHDR, pHYs, IDAT, IEND
            img.save(buf, format="PNG", dpi=(dpi, dpi), compress_level=3)
        else:
            img.save(buf, format="TIFF", dpi=(dpi, dpi), compression="tiff_lzw")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    return buf.getvalue()


def layout_problems(fig) -> list[str]:
    """Texts of ``fig`` cut by its edge or overlapping another text (after layout), as sentences.

    Compares the rendered extents of every visible, non-empty text (tick labels, axis labels,
    titles, annotations, legend entries) with the figure's box and with each other (1 px
    tolerance). Texts inside an axes that clips them (e.g. annotations of a heatmap cell) are
    checked against the figure only.
    """
    from matplotlib.text import Text

    fig.draw_without_rendering()
    W, H = fig.bbox.width, fig.bbox.height
    # tick labels exist for ticks outside the view too; only those drawn count
    ticklabels, drawn = set(), set()
    for a in fig.axes:
        for axis in (a.xaxis, a.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * max(1.0, abs(hi - lo))
            shown = a.axison and axis.get_visible() and a.get_visible()
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for lab in (tick.label1, tick.label2):
                    ticklabels.add(id(lab))
                    if shown and lo - eps <= tick.get_loc() <= hi + eps and tick.get_visible():
                        drawn.add(id(lab))
    boxes = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        if id(t) in ticklabels and id(t) not in drawn:
            continue
        if getattr(t, "get_alpha", lambda: None)() == 0:
            continue
        try:
            bb = t.get_window_extent()
        except (RuntimeError, ValueError):
            continue
        if bb.width <= 0 or bb.height <= 0:
            continue
        boxes.append((t, bb))
    out = []
    tol = 1.0
    for t, bb in boxes:
        if bb.x0 < -tol or bb.y0 < -tol or bb.x1 > W + tol or bb.y1 > H + tol:
            out.append(f"text {t.get_text()[:40]!r} is cut by the figure edge")
    # a box is exact for horizontal or vertical text only; slanted labels are checked against the edge
    upright = [(t, bb) for t, bb in boxes if round(t.get_rotation()) % 90 == 0]
    for i in range(len(upright)):
        ti, bi = upright[i]
        for j in range(i + 1, len(upright)):
            tj, bj = upright[j]
            if (min(bi.x1, bj.x1) - max(bi.x0, bj.x0) > tol and min(bi.y1, bj.y1) - max(bi.y0, bj.y0) > tol):
                out.append(f"texts {ti.get_text()[:40]!r} and {tj.get_text()[:40]!r} overlap")
    return out


def _rebuilt_at(fig, width, name):
    """``fig`` laid out at ``width``: the same figure when it already has that width, else the
    plotting function called again with ``width=`` (recorded by
    :func:`mscreview.output.plotbase.styled`)."""
    w0 = fig.get_size_inches()[0]
    w = width_inches(width)
    if abs(w - w0) * MM_PER_INCH < 0.5:
        return fig
    builder = getattr(fig, "mscreview_builder", None)
    if builder is None:
        raise ValueError(f"figure {name!r} was laid out at {w0 * MM_PER_INCH:.0f} mm and would be shrunk to "
                         f"{w * MM_PER_INCH:.0f} mm; draw it at that width (width= of the plotting function) "
                         "so that its labels are laid out for it")
    import matplotlib.pyplot as plt

    new = builder(width=width)
    plt.close(fig)
    return new


def export(fig, name: str, caption: str, notebook: str, *, width: str | float | None = None,
           data=None, formats=FORMATS, close: bool = True, dpi: int = DPI,
           outdir: str | Path | None = None) -> ExportedFigure:
    """Write ``fig`` as PDF, SVG, PNG (600 dpi) and TIFF with fixed metadata.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (from a :mod:`mscreview.output.plotting` function).
    name : str
        Figure id and file stem, lower-case letters, digits, ``_`` and ``-``.
    caption : str
        Caption for ``figures/README.md``.
    notebook : str
        Notebook that made the figure (e.g. ``"03_effects_by_mechanism"``).
    width : {"single", "double"} or float, optional
        Journal width (85 mm or 174 mm) or millimetres. By default the figure's own
        width. At another width the figure is drawn again by its plotting function at
        that width (labels wrapped and rows sized for it), never shrunk; a figure
        without a plotting function is an error.
    data : DataFrame, bytes, str or JSON-able, optional
        The data plotted; its hash goes to ``figures/README.md``. Default: the
        hash of ``data/*.csv``.
    formats : sequence of str
        Subset of ``("pdf", "svg", "png", "tiff")``.
    close : bool
        Close the figure afterwards (default). Jupyter then shows the returned
        record, whose preview is the exported raster scaled down, instead of
        rendering the figure a second time.
    dpi : int
        Resolution of PNG and TIFF (default 600).
    outdir : path, optional
        Folder to write to (default ``figures/``, or the build's staging folder).

    Returns
    -------
    ExportedFigure
    """
    if not _NAME.match(name or ""):
        raise ValueError(f"figure name {name!r} must match {_NAME.pattern}")
    if not caption or not caption.strip():
        raise ValueError(f"figure {name!r} needs a caption")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown format(s) {bad}; expected a subset of {FORMATS}")
    notebook = Path(notebook).stem

    if not isinstance(dpi, int) or not 72 <= dpi <= 2400:
        raise ValueError(f"dpi must be an integer from 72 to 2400, got {dpi!r}")
    if width is not None:
        fig = _rebuilt_at(fig, width, name)

    default_dir = outdir is None
    outdir = output_dir() if default_dir else Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    with style():
        _freeze_layout(fig)
        problems = layout_problems(fig)
        if problems:
            import warnings
            warnings.warn(f"figure {name!r}: " + "; ".join(problems[:5])
                          + (f" and {len(problems) - 5} more" if len(problems) > 5 else ""), stacklevel=2)
        image = _rgb_image(fig, dpi) if {"png", "tiff"} & set(formats) else None
        for fmt in formats:
            payload = render(fig, fmt, image, dpi)
            p = outdir / f"{name}.{fmt}"
            _atomic_write(p, payload)
            written.append(str(Path("figures") / p.name) if default_dir else str(p))
    wi, hi = fig.get_size_inches()
    rec = ExportedFigure(name=name, caption=caption.strip(), notebook=notebook,
                         data_hash=data_hash(data), width_mm=round(float(wi) * MM_PER_INCH, 1),
                         height_mm=round(float(hi) * MM_PER_INCH, 1), files=tuple(written))
    if image is not None:
        rec = dataclasses.replace(rec, preview=_preview(image))
    _record(rec)
    if close:
        import matplotlib.pyplot as plt
        plt.close(fig)
    return rec


def _record(rec: ExportedFigure) -> None:
    """Append the figure's record for the build (one JSON-lines file per notebook)."""
    st = stage_dir()
    if st is None:
        return
    d = st / "records"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f"{rec.notebook}.figures.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec.to_dict(), sort_keys=True) + "\n")


def read_records(stage: Path) -> list[dict]:
    """All figure records written into ``stage`` (sorted by notebook, then name)."""
    recs = records.read_named(stage, "figures", "figure name", "exported")
    return sorted(recs.values(), key=lambda r: (r["notebook"], r["name"]))


_README_ROW = re.compile(r"^\| `([^`]+)` \| (.*) \| `notebooks/([^`]+)\.ipynb` \| "
                        r"([0-9.]+) x ([0-9.]+) \| `([0-9a-f]+)` \|$")


def read_readme(path: Path) -> list[dict]:
    """Records of an existing ``figures/README.md`` (what :func:`readme` wrote; a partial build
    updates them). The files are those of ``figures/`` named after the figure."""
    path = Path(path)
    out = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            m = _README_ROW.match(line)
            if m:
                name = m.group(1)
                files = sorted(f"figures/{p.name}" for p in path.parent.glob(f"{name}.*"))
                out.append({"name": name, "caption": m.group(2).replace("\\|", "|"), "notebook": m.group(3),
                            "width_mm": float(m.group(4)), "height_mm": float(m.group(5)),
                            "data_hash": m.group(6), "files": files})
    return out


def readme(records: list[dict]) -> str:
    """Text of ``figures/README.md`` from figure records (deterministic)."""
    lines = [
        "# Figures",
        "",
        "Generated by `make review` (`python -m mscreview build`); do not edit by hand.",
        "Each figure is written by `mscreview.output.figures.export` as PDF (Type 42 fonts embedded), SVG,",
        f"PNG and TIFF at {DPI} dpi, at a journal width (85 mm single or 174 mm double column), in the",
        "Okabe-Ito colour-blind-safe palette, with fixed metadata so rebuilds are byte-identical.",
        "PNG and TIFF files are not committed (see `.gitignore` here); `make review` regenerates them.",
        "",
        "The data hash is the first 12 hex digits of the SHA-256 of the data the figure plots.",
        "",
        "| Figure | Caption | Notebook | Size (mm) | Data hash |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        cap = r["caption"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{r['name']}` | {cap} | `notebooks/{r['notebook']}.ipynb` | "
                     f"{r['width_mm']:g} x {r['height_mm']:g} | `{r['data_hash']}` |")
    return "\n".join(lines) + "\n"
