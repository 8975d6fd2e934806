"""Command line: ``python -m mscreview <command>``.

Commands
--------
build       validate the data, execute every notebook, export figures and tables,
            generate review/results.json and review/manuscript.md (``make review``)
validate    check every table against the data dictionary (delegates to
            :func:`mscreview.data.validate.main`), then run the plausibility checks
            (:func:`mscreview.review.plausibility.main`: findings and how many are open;
            only schema violations or a malformed review/plausibility.csv fail)
manuscript  regenerate review/manuscript.md from review/results.json and the template
hash        print the hash of the build inputs
"""
from __future__ import annotations

import sys

USAGE = __doc__.split("Commands\n--------\n", 1)[1]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: python -m mscreview <command> [options]\n\n" + USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "build":
        from .build import main as build_main
        return build_main(rest)
    if cmd == "validate":
        from .data.validate import main as validate_main
        from .review.plausibility import main as plausibility_main
        rc = validate_main(rest)
        if rc:   # schema violations: the tables may not load, so the plausibility checks wait
            print("Plausibility checks not run: fix the schema violations first.")
            return rc
        return plausibility_main(rest)
    if cmd == "manuscript":
        from .output.manuscript import manuscript_main
        return manuscript_main(rest)
    if cmd == "hash":
        from . import paths
        from .build import inputs_hash
        print(inputs_hash(paths.ROOT))
        return 0
    print(f"unknown command {cmd!r}\n\nusage: python -m mscreview <command> [options]\n\n{USAGE}",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
