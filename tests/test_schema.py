"""The data dictionary is internally consistent."""
from mscreview.data import datadoc, schema


def test_every_vocabulary_named_by_a_column_exists():
    for table, cols in schema.TABLES.items():
        for c in cols:
            if c.vocabulary is not None:
                assert c.vocabulary in schema.VOCABULARIES, (table, c.name)


def test_column_names_unique_per_table():
    for table, cols in schema.TABLES.items():
        names = [c.name for c in cols]
        assert len(names) == len(set(names)), table


def test_committed_datapackage_and_readme_are_generated_from_schema():
    """data/datapackage.json and data/README.md equal what schema + datadoc generate."""
    from mscreview.data import datadoc
    from mscreview import paths
    assert (paths.ROOT / datadoc.DATAPACKAGE).read_text(encoding="utf-8") == datadoc.datapackage_json()
    assert (paths.ROOT / datadoc.README).read_text(encoding="utf-8") == datadoc.readme_markdown()


def test_datapackage_fields_match_schema():
    dp = datadoc.to_datapackage()
    assert dp["profile"] == "tabular-data-package"
    by_name = {r["name"]: r for r in dp["resources"]}
    assert set(by_name) == set(schema.TABLE_NAMES)
    ex = by_name["extracted"]["schema"]
    assert [f["name"] for f in ex["fields"]] == schema.columns("data/extracted.csv")
    f = {x["name"]: x for x in ex["fields"]}
    assert f["mechanism"]["constraints"]["enum"] == list(schema.MECHANISMS)
    assert f["mechanism"]["constraints"]["required"] is True
    assert f["n1i"]["type"] == "integer" and f["n1i"]["constraints"]["minimum"] == 0
    assert "must be > 0" in f["sd1i"]["description"]
    assert f["higher_is_better"]["trueValues"] == ["true"]
    assert f["row_id"]["constraints"]["unique"] is True
    assert by_name["risk_of_bias"]["schema"]["primaryKey"] == ["study_id", "tool", "domain"]
    fks = by_name["screening"]["schema"]["foreignKeys"]
    assert {"fields": "duplicate_of", "reference": {"resource": "", "fields": "record_id"}} in fks
    assert {"fields": "study_id", "reference": {"resource": "studies", "fields": "study_id"}} in fks
    assert by_name["screening"]["path"] == "../review/screening.csv"


def test_rob_union_registries_cover_every_tool():
    for tool, domains in schema.ROB_DOMAINS.items():
        assert set(domains) <= set(schema.ROB_DOMAIN_NAMES)
        assert set(schema.ROB_JUDGEMENTS[tool]) <= set(schema.ROB_JUDGEMENT_NAMES)
    assert set(schema.ROB_DOMAINS) == set(schema.ROB_TOOLS) == set(schema.ROB_JUDGEMENTS)
