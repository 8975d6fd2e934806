"""The data dictionary: the single source of column names and vocabularies.

Every table in ``data/`` and ``review/`` is described here once. Validation
(:mod:`mscreview.validate`), ``data/datapackage.json``, ``data/README.md`` and
the tests all derive from these definitions; nothing else lists columns.

Each column is a :class:`Column` with a type (``string``, ``integer``,
``number``, ``boolean``, ``date``), whether it is required, an optional
vocabulary (a registry name from :data:`VOCABULARIES`) and a description.
"""
from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------
# Vocabularies (one registry per vocabulary: value -> meaning)
# ---------------------------------------------------------------------------

MECHANISMS = {
    "paracrine_trophic": "Paracrine / trophic factors: BDNF, NGF, VEGF, HGF, Ang-1, angiogenesis, perfusion, exosome cargo",
    "immunomodulation": "Immunomodulation: cytokines (TNF-a, IL-1b, IL-6, IL-10), microglia/astrocyte activation, T cells",
    "neuroregeneration": "Neuroregeneration incl. lesion size, tissue loss, neuron counts, myelination (MBP), DTI, neurogenesis",
    "metabolism": "Brain metabolism incl. oxidative stress (SOD, GSH-Px, MDA), mitochondria, glucose uptake (PET SUV)",
    "anti_apoptosis": "Anti-apoptosis: TUNEL, cleaved caspase-3, Bcl-2, Bax",
    "function": "Function and behaviour: GMFM, PEDI, MAS, ADL, cylinder test, rotarod, water maze, negative geotaxis",
    "safety": "Safety: adverse events, mortality, serious adverse events",
}

MSC_SOURCES = {
    "umbilical_cord": "Umbilical cord tissue / Wharton's jelly MSC",
    "cord_blood": "Umbilical cord blood-derived MSC (culture-expanded, not mononuclear cells)",
    "bone_marrow": "Bone marrow MSC",
    "adipose": "Adipose-derived MSC / adipose-derived stem (stromal) cells",
    "placenta": "Placenta-derived MSC incl. amnion, chorion, decidua (detail in msc_source_detail)",
    "other": "Other MSC source (e.g. dental pulp, menstrual blood); say which in msc_source_detail",
    "unclear": "MSC source not reported or not determinable from the report",
    "not_applicable": "Record is not an MSC product (screening-only / not MSC)",
}

PRODUCTS = {
    "msc": "Undifferentiated culture-expanded MSC",
    "msc_ev": "MSC-derived extracellular vesicles or exosomes",
    "msc_secretome": "MSC conditioned medium / secretome",
    "msc_derived_cells": "Cells differentiated from MSC (e.g. neural stem cell-like cells)",
    "msc_modified": "Genetically modified or preconditioned MSC (e.g. BDNF-overexpressing)",
    "not_msc": "Not an MSC product (mononuclear cells, neural stem cells, ...)",
}

DONORS = {
    "autologous": "The recipient's own cells",
    "allogeneic": "Same species, other donor",
    "xenogeneic": "Other species (e.g. human cells in rodents)",
    "unclear": "Not reported",
}

ROUTES = {
    "intravenous": "Intravenous",
    "intrathecal": "Intrathecal (lumbar puncture)",
    "intraventricular": "Intraventricular / intracerebroventricular",
    "intracerebral": "Intracerebral / intraparenchymal / striatal",
    "intranasal": "Intranasal",
    "intraperitoneal": "Intraperitoneal",
    "intra_arterial": "Intra-arterial (e.g. carotid)",
    "mixed": "More than one route in the same arm",
    "other": "Other route (say which in route_detail)",
    "unclear": "Not reported",
}

POPULATIONS = {"clinical": "People with cerebral palsy", "preclinical": "Animal model of CP or perinatal brain injury"}

DESIGNS = {
    "rct": "Randomised controlled trial",
    "nrsi_controlled": "Non-randomised study with a concurrent control group",
    "single_arm": "Single-arm trial or prospective cohort (pre-post)",
    "retrospective": "Retrospective case series / records review",
    "case_report": "Case report (one or a few patients)",
    "animal_controlled": "Controlled animal experiment",
    "other": "Other design (say which in notes)",
}

DATA_AVAILABILITY_STUDY = {
    "full_text": "Full text incl. tables read",
    "tables_only": "Table pages read without the full text",
    "abstract_only": "Only the abstract could be read",
    "figure_only": "Numbers exist only in figures",
    "secondary_only": "Numbers only from another review's table",
    "not_reached": "No page of the report could be read",
}

DATA_AVAILABILITY_ROW = {
    "numeric": "Group statistics, a reported effect or event counts are given",
    "figure_only": "Numbers exist only in a figure; numeric fields left empty (unless digitised, see notes)",
    "direction_only": "Only direction and significance are reported",
}

DISPERSION_TYPES = {
    "SD": "Standard deviation",
    "SEM": "Standard error of the mean",
    "CI95": "95% confidence interval of the mean (lo*/hi* columns)",
    "IQR": "Interquartile range (lo* = Q1, hi* = Q3)",
    "range": "Minimum and maximum (lo* = min, hi* = max)",
    "none": "No dispersion reported",
}

CENTER_TYPES = {"mean": "Arithmetic mean", "median": "Median"}

SCORE_TYPES = {
    "final": "Value at the timepoint (post-treatment)",
    "change": "Change from baseline",
}

COMPARISON_TYPES = {
    "between_groups": "MSC arm (1) versus comparator arm (2)",
    "pre_post": "Single arm: follow-up (arm 1) versus baseline (arm 2) in the same patients",
    "events_single_arm": "Single-arm event counts (x1i of n1i)",
}

EFFECT_TYPES = {
    "MD": "Mean difference", "SMD": "Standardised mean difference", "beta": "Regression coefficient",
    "RR": "Risk ratio", "OR": "Odds ratio", "HR": "Hazard ratio", "r": "Correlation coefficient",
    "t": "t statistic", "F": "F statistic",
}

DIRECTIONS = {
    "favours_msc": "Outcome better with MSC (respecting higher_is_better)",
    "favours_control": "Outcome better with the comparator",
    "no_difference": "No difference reported",
    "mixed": "Mixed across subgroups or timepoints",
}

SIGNIFICANCE = {"yes": "Reported as statistically significant", "no": "Reported as not significant", "unclear": "Not stated"}

SOURCE_KINDS = {"primary": "Read in the study's own report", "secondary": "Read in another review's table (give that review and table)"}

ROB_TOOLS = {
    "SYRCLE": "SYRCLE risk-of-bias tool for animal studies (10 items)",
    "RoB2": "Cochrane RoB 2 for randomised trials (5 domains + overall)",
    "ROBINS-I": "ROBINS-I for non-randomised studies of interventions (7 domains + overall)",
}

ROB_DOMAINS = {
    "SYRCLE": ["sequence_generation", "baseline_characteristics", "allocation_concealment", "random_housing",
               "caregiver_blinding", "random_outcome_assessment", "assessor_blinding", "incomplete_outcome_data",
               "selective_reporting", "other_bias"],
    "RoB2": ["randomisation", "deviations", "missing_data", "measurement", "selection_of_result", "overall"],
    "ROBINS-I": ["confounding", "selection", "classification", "deviations", "missing_data", "measurement",
                 "selection_of_result", "overall"],
}

ROB_JUDGEMENTS = {
    "SYRCLE": ["low", "high", "unclear"],
    "RoB2": ["low", "some_concerns", "high", "no_information"],
    "ROBINS-I": ["low", "moderate", "serious", "critical", "no_information"],
}


# ---------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"            # string | integer | number | boolean | date
    required: bool = False
    vocabulary: str | None = None   # key of VOCABULARIES
    unit: str | None = None
    description: str = ""


def _c(name, type="string", required=False, vocabulary=None, unit=None, description=""):
    return Column(name, type, required, vocabulary, unit, description)


STUDIES = [
    _c("study_id", required=True, description="FirstAuthorYear, a/b suffix when needed; primary key"),
    _c("citation", required=True, description="Full citation as read"),
    _c("year", "integer", description="Publication year"),
    _c("doi", description="DOI without the https://doi.org/ prefix"),
    _c("pmid", description="PubMed id where seen"),
    _c("pmcid", description="PubMed Central id where seen"),
    _c("urls_read", required=True, description="Every URL read for this report, separated by ' | '"),
    _c("population", required=True, vocabulary="population"),
    _c("design", required=True, vocabulary="design"),
    _c("country", description="Country where the study was done"),
    _c("species", description="human, rat, mouse, sheep, ..."),
    _c("strain", description="Animal strain (e.g. Sprague-Dawley)"),
    _c("model", description="Disease model or CP type (e.g. Rice-Vannucci HI P7; spastic CP)"),
    _c("age_at_injury", description="Age at injury / age of patients as reported"),
    _c("n_total", "integer", description="Animals or patients analysed in all arms"),
    _c("msc_source", required=True, vocabulary="msc_source"),
    _c("msc_source_detail", description="e.g. Wharton's jelly; chorionic plate; as reported"),
    _c("donor", vocabulary="donor"),
    _c("product", required=True, vocabulary="product"),
    _c("dose", "number", description="Dose per administration, as reported (cells, or ug protein for EVs)"),
    _c("dose_unit", description="Unit of dose, e.g. cells, cells/kg, ug protein, particles"),
    _c("n_doses", "integer", description="Number of administrations"),
    _c("route", vocabulary="route"),
    _c("route_detail", description="Route as reported"),
    _c("timing", description="Time of administration relative to injury or age at treatment"),
    _c("comparator", description="Control: sham, vehicle, placebo, rehabilitation alone, none ..."),
    _c("co_intervention", description="e.g. rehabilitation, hypothermia, acupuncture"),
    _c("follow_up", description="Longest follow-up as reported"),
    _c("registration", description="Trial registry id"),
    _c("funding_coi", description="Funding and conflicts of interest where seen"),
    _c("cohort_id", required=True, description="Links reports of the same patients/animals; equals study_id when unique"),
    _c("data_availability", required=True, vocabulary="data_availability_study"),
    _c("notes"),
]

EXTRACTED = [
    _c("row_id", required=True, description="Unique row id: {study_id}_{nn}"),
    _c("study_id", required=True, description="Foreign key to studies.csv"),
    _c("mechanism", required=True, vocabulary="mechanism"),
    _c("outcome", required=True, description="Instrument or marker, e.g. GMFM-88, TNF-alpha, MBP, TUNEL"),
    _c("outcome_detail", description="Region, tissue, sample, subscale"),
    _c("unit", description="Unit of the outcome as reported"),
    _c("higher_is_better", "boolean", description="true if a higher value means a better outcome"),
    _c("timepoint", "number", description="Time of measurement (after treatment unless timepoint_ref says otherwise)"),
    _c("timepoint_unit", description="days | weeks | months | years"),
    _c("timepoint_ref", description="What the timepoint counts from: treatment, injury, birth, baseline"),
    _c("comparison_type", required=True, vocabulary="comparison_type"),
    _c("arm1_label", description="Label of the MSC arm (arm 1) as reported"),
    _c("arm2_label", description="Label of the comparator arm (arm 2) as reported"),
    _c("control_group_id", description="Id of the comparator group; rows of different comparisons that share one control group share this id"),
    _c("data_availability", required=True, vocabulary="data_availability_row"),
    _c("score_type", vocabulary="score_type"),
    _c("center_type", vocabulary="center_type"),
    _c("n1i", "integer", description="n in arm 1 (MSC)"),
    _c("m1i", "number", description="Mean (or median, see center_type) in arm 1"),
    _c("sd1i", "number", description="Dispersion of arm 1 exactly as reported when dispersion_type is SD or SEM"),
    _c("lo1i", "number", description="Lower bound in arm 1 when dispersion_type is CI95, IQR or range"),
    _c("hi1i", "number", description="Upper bound in arm 1 when dispersion_type is CI95, IQR or range"),
    _c("n2i", "integer", description="n in arm 2 (comparator)"),
    _c("m2i", "number"),
    _c("sd2i", "number"),
    _c("lo2i", "number"),
    _c("hi2i", "number"),
    _c("dispersion_type", vocabulary="dispersion_type"),
    _c("m1i_pre", "number", description="Baseline mean in arm 1 (for change scores)"),
    _c("m2i_pre", "number", description="Baseline mean in arm 2 (for change scores)"),
    _c("x1i", "integer", description="Events in arm 1"),
    _c("x2i", "integer", description="Events in arm 2"),
    _c("effect_type", vocabulary="effect_type"),
    _c("effect", "number", description="Reported effect estimate (arm 1 vs arm 2)"),
    _c("effect_ci_low", "number"),
    _c("effect_ci_high", "number"),
    _c("direction", vocabulary="direction"),
    _c("significant", vocabulary="significance"),
    _c("p_text", description="p value exactly as reported, e.g. 'P < 0.05'"),
    _c("source_url", required=True, description="URL of the page the numbers were read from"),
    _c("source_locator", required=True, description="Table / figure / paragraph, e.g. 'Table 4', 'Abstract, Results'"),
    _c("source_kind", required=True, vocabulary="source_kind"),
    _c("secondary_source", description="For source_kind=secondary: the review (study_id-style) and its table"),
    _c("extractor", description="Who extracted the row (session/agent label)"),
    _c("notes"),
]

RISK_OF_BIAS = [
    _c("study_id", required=True),
    _c("tool", required=True, vocabulary="rob_tool"),
    _c("domain", required=True, description="Item/domain name from ROB_DOMAINS[tool]"),
    _c("judgement", required=True, description="From ROB_JUDGEMENTS[tool]"),
    _c("support", required=True, description="Quote or reason; 'no information' when the report is silent"),
    _c("locator", description="Where in the report (section/paragraph)"),
    _c("source_url"),
]

SCREENING = [
    _c("record_id", required=True, description="Unique id of the record (R0001 ...)"),
    _c("citation", required=True, description="Citation or title as seen"),
    _c("doi"), _c("pmid"),
    _c("source_type", required=True, vocabulary="record_source",
       description="Where the record came from: database, register, reading_list, review_reference, citation_search"),
    _c("search_id", description="search_log.csv query id that found it, where applicable"),
    _c("duplicate_of", description="record_id of the record this duplicates (removed before screening)"),
    _c("screen_decision", vocabulary="decision", description="Title/abstract screening: include | exclude (empty for duplicates)"),
    _c("retrieval", vocabulary="retrieval", description="Report retrieval: full_text | tables_only | abstract_only | not_retrieved"),
    _c("eligibility_decision", vocabulary="decision", description="Eligibility assessment: include | exclude"),
    _c("exclusion_reason", vocabulary="exclusion_reason"),
    _c("study_id", description="study_id in studies.csv when included (or when the record is a report of it)"),
    _c("notes"),
]

SEARCH_LOG = [
    _c("search_id", required=True), _c("date", "date", required=True), _c("source", required=True),
    _c("query", required=True), _c("records_seen", "integer", required=True), _c("notes"),
]

CLAIMS = [
    _c("claim_id", required=True), _c("claim", required=True), _c("evidence", required=True),
    _c("study_ids"), _c("verdict", required=True, vocabulary="verdict"), _c("why", required=True),
]

RECORD_SOURCES = {
    "database": "Database search (e.g. PubMed via stored pages)",
    "register": "Trial register",
    "reading_list": "Project reading list (shared/literature/reading_list.csv)",
    "review_reference": "Included-study list or table of a published review",
    "citation_search": "Citation search from an included report",
}

DECISIONS = {"include": "Include", "exclude": "Exclude"}

RETRIEVAL = {
    "full_text": "Full text read", "tables_only": "Table pages read", "abstract_only": "Abstract only",
    "not_retrieved": "No page of the report could be read",
}

EXCLUSION_REASONS = {
    "not_msc": "Intervention is not MSC (e.g. mononuclear cells, neural stem cells)",
    "not_cp_model": "Population or model outside scope (e.g. adult stroke)",
    "no_control_or_outcome": "No relevant outcome reported",
    "review": "Review / not primary research",
    "duplicate_report": "Another report of an included cohort",
    "not_retrieved": "Report could not be read",
    "other": "Other (say why in notes)",
}

VERDICTS = {
    "supported": "Supported", "partly_supported": "Partly supported", "not_supported": "Not supported",
    "not_verifiable": "Not verifiable",
}

VOCABULARIES = {
    "mechanism": MECHANISMS, "msc_source": MSC_SOURCES, "product": PRODUCTS, "donor": DONORS,
    "route": ROUTES, "population": POPULATIONS, "design": DESIGNS,
    "data_availability_study": DATA_AVAILABILITY_STUDY, "data_availability_row": DATA_AVAILABILITY_ROW,
    "dispersion_type": DISPERSION_TYPES, "center_type": CENTER_TYPES, "score_type": SCORE_TYPES,
    "comparison_type": COMPARISON_TYPES, "effect_type": EFFECT_TYPES, "direction": DIRECTIONS,
    "significance": SIGNIFICANCE, "source_kind": SOURCE_KINDS, "rob_tool": ROB_TOOLS,
    "record_source": RECORD_SOURCES, "decision": DECISIONS, "retrieval": RETRIEVAL,
    "exclusion_reason": EXCLUSION_REASONS, "verdict": VERDICTS,
}

TABLES = {
    "data/studies.csv": STUDIES,
    "data/extracted.csv": EXTRACTED,
    "data/risk_of_bias.csv": RISK_OF_BIAS,
    "review/screening.csv": SCREENING,
    "review/search_log.csv": SEARCH_LOG,
    "review/claims.csv": CLAIMS,
}


def columns(table: str) -> list[str]:
    """Column names of ``table`` (a key of :data:`TABLES`) in file order."""
    return [c.name for c in TABLES[table]]
