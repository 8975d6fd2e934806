"""The data dictionary is internally consistent."""
from mscreview import schema


def test_every_vocabulary_named_by_a_column_exists():
    for table, cols in schema.TABLES.items():
        for c in cols:
            if c.vocabulary is not None:
                assert c.vocabulary in schema.VOCABULARIES, (table, c.name)


def test_column_names_unique_per_table():
    for table, cols in schema.TABLES.items():
        names = [c.name for c in cols]
        assert len(names) == len(set(names)), table
