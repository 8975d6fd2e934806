"""What a notebook calls to show and save: the short names the notebooks use.

``report.write_table`` (:mod:`mscreview.output.tables`), ``report.save_numbers``
(:func:`mscreview.output.numbers.save`), ``report.say`` and ``report.md``
(:mod:`mscreview.output.manuscript`). Nothing is defined here.
"""
from .manuscript import md, say
from .numbers import save as save_numbers
from .tables import write_table

__all__ = ["md", "save_numbers", "say", "write_table"]
