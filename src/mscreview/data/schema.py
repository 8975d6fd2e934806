"""The data dictionary: the single source of column names and vocabularies.

Every table in ``data/`` and ``review/`` is described here once. Validation
(:mod:`mscreview.data.validate`), ``data/datapackage.json``, ``data/README.md`` and
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

TIMEPOINT_UNITS = {
    "hours": "Hours", "days": "Days", "weeks": "Weeks", "months": "Months", "years": "Years",
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
    "msc_vs_msc": "MSC vs MSC (head-to-head)",
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

@dataclass(frozen=True)
class Instrument:
    """A clinical outcome instrument: its display name and the instrument family it is pooled in
    (protocol 9.1: a clinical function family is one instrument family)."""

    display: str
    family: str


#: Clinical outcome instruments (``extracted.instrument``), id -> display name and family. Order matters:
#: within an instrument family the one-effect-per-study rule prefers the instrument listed first
#: (never alphabetical order; protocol 9.1).
INSTRUMENTS = {
    "GMFM-66": Instrument("GMFM-66 (Rasch interval score)", "GMFM"),
    "GMFM-88": Instrument("GMFM-88 (total score or total %)", "GMFM"),
    "GMFM-unstated": Instrument("GMFM, version not stated", "GMFM"),
    "GMFM-66-percentile": Instrument("GMFM-66 percentile for age and GMFCS level", "GMFM percentile"),
    "GMFM-pct-improvement": Instrument("GMFM % improvement vs baseline", "GMFM % improvement"),
    "PEDI": Instrument("Pediatric Evaluation of Disability Inventory (PEDI)", "PEDI"),
    "WeeFIM": Instrument("Functional Independence Measure for Children (WeeFIM)", "WeeFIM"),
    "MAS": Instrument("Modified Ashworth Scale (MAS)", "spasticity (MAS)"),
    "Tardieu": Instrument("Tardieu Scale", "spasticity (Tardieu)"),
    "ADL": Instrument("Activities of daily living (ADL) score", "ADL"),
    "CFA": Instrument("Comprehensive function assessment (CFA)", "CFA"),
    "FMFM": Instrument("Fine Motor Function Measure (FMFM)", "fine motor (FMFM)"),
    "FMFM-45": Instrument("Fine Motor Function Measure-45 (FMFM-45)", "fine motor (FMFM)"),
    "drooling-SF": Instrument("Drooling severity and frequency scale (SF)", "drooling"),
    "drooling-DQ": Instrument("Drooling quotient (DQ)", "drooling"),
    "saliva-weight": Instrument("Saliva weight (W)", "drooling"),
    "BBS": Instrument("Berg Balance Scale", "balance (BBS)"),
    "TCT": Instrument("Trunk Control Test", "trunk control"),
    "6MWT": Instrument("6-Minute Walk Test", "walking endurance (6MWT)"),
    "TUG": Instrument("Timed Up and Go test", "mobility (TUG)"),
    "GMFCS": Instrument("Gross Motor Function Classification System level", "GMFCS"),
    "MACS": Instrument("Manual Ability Classification System level", "MACS"),
    "Lovett": Instrument("Lovett's manual muscle test", "muscle strength"),
    "MRC": Instrument("Medical Research Council muscle strength scale", "muscle strength"),
    "CGI": Instrument("Clinical Global Impression (CGI)", "global impression"),
    "CP-QoL": Instrument("Cerebral Palsy Quality of Life questionnaire (CP-QoL)", "quality of life (CP-QoL)"),
    "SF-8": Instrument("SF-8 health survey", "quality of life (SF-8)"),
    "investigator-Likert": Instrument("Investigator rating on a Likert scale", "investigator rating"),
    "KABC": Instrument("Kaufman Assessment Battery for Children", "cognition (KABC)"),
    "clinical-observation": Instrument("Clinical observation (sign present/absent, no scale)", "clinical observation"),
    "body-weight": Instrument("Body weight", "body weight"),
    "multiple-scales": Instrument("Several scales reported together (instrument of each result not separable)",
                                  "several scales"),
    "not-named": Instrument("Instrument not named on the pages read", "instrument not named"),
}


#: Types of a reported standardised effect (``extracted.effect_std_type``).
EFFECT_STD_TYPES = {"cohens_d": "Cohen's d as reported (standardiser not stated unless in notes)",
                    "hedges_g": "Hedges' g as reported"}


def instrument_family(instrument) -> str:
    """Instrument family of an ``extracted.instrument`` value; '' when empty or unknown."""
    return INSTRUMENTS[instrument].family if isinstance(instrument, str) and instrument in INSTRUMENTS else ""


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
    # RoB 2 domain judgements are RoB 2's own; "no information" answers a signalling question (protocol 9.8)
    "RoB2": ["low", "some_concerns", "high"],
    "ROBINS-I": ["low", "moderate", "serious", "critical", "no_information"],
}

# Union registries derived from the per-tool lists above (so the column-level enum of
# risk_of_bias.csv is defined once); which domain/judgement belongs to which tool is checked by
# mscreview.data.validate against ROB_DOMAINS / ROB_JUDGEMENTS.
ROB_DOMAIN_NAMES = {d: "Domain of " + ", ".join(t for t in ROB_DOMAINS if d in ROB_DOMAINS[t])
                    for tool in ROB_DOMAINS for d in ROB_DOMAINS[tool]}
ROB_JUDGEMENT_NAMES = {j: "Judgement of " + ", ".join(t for t in ROB_JUDGEMENTS if j in ROB_JUDGEMENTS[t])
                       for tool in ROB_JUDGEMENTS for j in ROB_JUDGEMENTS[tool]}


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
    minimum: float | None = None    # inclusive lower bound (Frictionless ``minimum``)
    exclusive_minimum: float | None = None  # strict lower bound (value must be > this)


def _c(name, type="string", required=False, vocabulary=None, unit=None, description="",
       minimum=None, exclusive_minimum=None):
    return Column(name, type, required, vocabulary, unit, description, minimum, exclusive_minimum)


STUDIES = [
    _c("study_id", required=True, description="FirstAuthorYear, a/b suffix when needed; primary key"),
    _c("citation", required=True, description="Full citation as read"),
    _c("year", "integer", description="Publication year", minimum=1950),
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
    _c("n_total", "integer", unit="animals or patients", description="Animals or patients analysed in all arms", minimum=1),
    _c("msc_source", required=True, vocabulary="msc_source"),
    _c("msc_source_detail", description="e.g. Wharton's jelly; chorionic plate; as reported"),
    _c("donor", vocabulary="donor"),
    _c("product", required=True, vocabulary="product"),
    _c("dose", "number", unit="see dose_unit", description="Dose per administration, as reported (cells, or ug protein for EVs)", exclusive_minimum=0),
    _c("dose_unit", description="Unit of dose, e.g. cells, cells/kg, ug protein, particles"),
    _c("n_doses", "integer", unit="administrations", description="Number of administrations", minimum=1),
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
    _c("instrument", vocabulary="instrument", description="Instrument of a clinical function row (schema.INSTRUMENTS; "
       "its instrument family defines the pooled family, protocol 9.1); empty for preclinical and non-function rows"),
    _c("unit", description="Unit of the outcome as reported"),
    _c("higher_is_better", "boolean", description="true if a higher value means a better outcome"),
    _c("timepoint", "number", unit="see timepoint_unit", description="Time of measurement (after treatment unless timepoint_ref says otherwise)", minimum=0),
    _c("timepoint_unit", vocabulary="timepoint_unit", description="days | weeks | months | years"),
    _c("timepoint_ref", description="What the timepoint counts from: treatment, injury, birth, baseline"),
    _c("comparison_type", required=True, vocabulary="comparison_type"),
    _c("arm1_label", description="Label of the MSC arm (arm 1) as reported"),
    _c("arm2_label", description="Label of the comparator arm (arm 2) as reported"),
    _c("control_group_id", description="Id of the comparator group; rows of different comparisons that share one control group share this id"),
    _c("data_availability", required=True, vocabulary="data_availability_row"),
    _c("score_type", vocabulary="score_type"),
    _c("center_type", vocabulary="center_type"),
    _c("n1i", "integer", unit="animals or patients", description="n in arm 1 (MSC)", exclusive_minimum=0),
    _c("m1i", "number", unit="see unit", description="Mean (or median, see center_type) in arm 1"),
    _c("sd1i", "number", unit="see unit", description="Dispersion of arm 1 exactly as reported when dispersion_type is SD or SEM", exclusive_minimum=0),
    _c("lo1i", "number", unit="see unit", description="Lower bound in arm 1 when dispersion_type is CI95, IQR or range"),
    _c("hi1i", "number", unit="see unit", description="Upper bound in arm 1 when dispersion_type is CI95, IQR or range"),
    _c("n2i", "integer", unit="animals or patients", description="n in arm 2 (comparator)", exclusive_minimum=0),
    _c("m2i", "number", unit="see unit", description="Mean (or median, see center_type) in arm 2"),
    _c("sd2i", "number", unit="see unit", description="Dispersion of arm 2 exactly as reported when dispersion_type is SD or SEM", exclusive_minimum=0),
    _c("lo2i", "number", unit="see unit", description="Lower bound in arm 2 when dispersion_type is CI95, IQR or range"),
    _c("hi2i", "number", unit="see unit", description="Upper bound in arm 2 when dispersion_type is CI95, IQR or range"),
    _c("dispersion_type", vocabulary="dispersion_type", description="What sd*i (SD, SEM) or lo*i/hi*i (CI95, IQR, range) hold, for both arms"),
    _c("dispersion_doubt", description="Why the dispersion label is doubtful (empty = no doubt); such rows are also "
       "analysed with SD read as SEM or SEM as SD (protocol 9.3)"),
    _c("m1i_pre", "number", unit="see unit", description="Baseline mean in arm 1 (for change scores)"),
    _c("m2i_pre", "number", unit="see unit", description="Baseline mean in arm 2 (for change scores)"),
    _c("x1i", "integer", unit="participants with the event", description="Events in arm 1 (participants with at least one event)", minimum=0),
    _c("x2i", "integer", unit="participants with the event", description="Events in arm 2 (participants with at least one event)", minimum=0),
    _c("effect_type", vocabulary="effect_type", description="Type of the reported effect in effect/effect_ci_low/effect_ci_high"),
    _c("effect", "number", description="Reported effect estimate (arm 1 vs arm 2)"),
    _c("effect_ci_low", "number", description="Lower 95% confidence limit of the reported effect"),
    _c("effect_ci_high", "number", description="Upper 95% confidence limit of the reported effect"),
    _c("effect_std", "number", description="The trial's own reported standardised effect (e.g. Cohen's d), arm 1 vs arm 2, "
       "sign as reported; used in a sensitivity analysis (protocol 9.2)"),
    _c("effect_std_type", vocabulary="effect_std_type", description="What effect_std holds"),
    _c("direction", vocabulary="direction", description="Direction of effect as reported (already respecting higher_is_better)"),
    _c("significant", vocabulary="significance", description="Statistical significance as reported"),
    _c("p_text", description="p value exactly as reported, e.g. 'P < 0.05'"),
    _c("source_url", required=True, description="URL of the page the numbers were read from"),
    _c("source_locator", required=True, description="Table / figure / paragraph, e.g. 'Table 4', 'Abstract, Results'"),
    _c("source_kind", required=True, vocabulary="source_kind"),
    _c("secondary_source", description="For source_kind=secondary: the review (study_id-style) and its table"),
    _c("extractor", description="Who extracted the row (session/agent label)"),
    _c("notes", description="Free text: conversions needed, digitisation method, caveats"),
]

RISK_OF_BIAS = [
    _c("study_id", required=True, description="Foreign key to studies.csv"),
    _c("tool", required=True, vocabulary="rob_tool"),
    _c("domain", required=True, vocabulary="rob_domain", description="Item/domain name from ROB_DOMAINS[tool]"),
    _c("judgement", required=True, vocabulary="rob_judgement", description="From ROB_JUDGEMENTS[tool]"),
    _c("support", required=True, description="Quote or reason; 'no information' when the report is silent"),
    _c("locator", description="Where in the report (section/paragraph)"),
    _c("source_url", description="URL of the page the judgement is based on"),
]

SCREENING = [
    _c("record_id", required=True, description="Unique id of the record (R0001 ...)"),
    _c("citation", required=True, description="Citation or title as seen"),
    _c("doi", description="DOI without the https://doi.org/ prefix"), _c("pmid", description="PubMed id where seen"),
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
    _c("search_id", required=True, description="Unique query id: <BATCH>-S001 ..."),
    _c("date", "date", required=True, description="Date of the search (YYYY-MM-DD)"),
    _c("source", required=True, description="Tool and corpus searched, e.g. search/pages"),
    _c("query", required=True, description="Query text exactly as sent"),
    _c("records_seen", "integer", required=True, unit="records", minimum=0,
       description="Number of results returned"),
    _c("notes", description="What the query found (or 'not found')"),
]

CLAIMS = [
    _c("claim_id", required=True, description="C1 ... C6 (claims of the source article)"),
    _c("claim", required=True, description="The claim as stated in the source article"),
    _c("evidence", required=True, description="What the evidence shows"),
    _c("study_ids", description="study_ids of the evidence, separated by ';'"),
    _c("verdict", required=True, vocabulary="verdict"),
    _c("why", required=True, description="Reason for the verdict"),
]

PUBLISHED_ESTIMATES = [
    _c("estimate_id", required=True, description="PUB-001 ...; primary key"),
    _c("review_id", required=True, description="The published review, FirstAuthorYear"),
    _c("citation", required=True, description="Citation of the review as read"),
    _c("doi"),
    _c("population", required=True, vocabulary="population"),
    _c("cell_types", description="Cell types the pooled studies used, as reported (e.g. 'MSC only', 'all cell types')"),
    _c("subgroup", description="Subgroup as reported"),
    _c("outcome", required=True, description="Outcome as reported (e.g. GMFM, cylinder test)"),
    _c("timepoint", description="Timepoint as reported"),
    _c("measure", vocabulary="effect_type", description="Effect measure; empty when the page does not name it"),
    _c("k_studies", "integer", minimum=1, description="Number of studies pooled, as reported"),
    _c("n_participants", "integer", minimum=1, description="Participants or animals pooled, as reported"),
    _c("estimate", "number", required=True, description="Pooled estimate as printed"),
    _c("ci_low", "number", description="Lower 95% confidence limit as printed"),
    _c("ci_high", "number", description="Upper 95% confidence limit as printed"),
    _c("p_text", description="p value as printed"),
    _c("i2", "number", unit="percent", minimum=0, description="I-squared (percent) as printed"),
    _c("model", description="Model / estimator as reported"),
    _c("included_study_ids", description="Our study_ids pooled in the estimate where the review names them, ' | '-separated"),
    _c("source_url", required=True, description="Page the numbers were read from"),
    _c("source_locator", required=True, description="Abstract / table / figure of the number"),
    _c("notes"),
]

OVERLAP_GROUPS = [
    _c("group_id", required=True, description="OV01 ...; primary key"),
    _c("study_ids", required=True,
       description="study_ids of two or more reports whose patients or animals may overlap (same centre or group), separated by ';'"),
    _c("evidence", required=True,
       description="Why overlap is suspected (centre, group, shared authors, design, periods) and what argues against it"),
    _c("source", required=True, description="Where the evidence was read: extraction notes and studies.csv notes"),
    _c("validated", "boolean", required=True,
       description="true when the overlap was confirmed on a page read (then give the reports one cohort_id); "
                   "false when suspected but neither confirmed nor excluded"),
]

RECORD_SOURCES = {
    "database": "Search of a stored web corpus of article pages (PRISMA: other methods, websites; D16)",
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
    "timepoint_unit": TIMEPOINT_UNITS,
    "instrument": {k: f"{v.display} (family: {v.family})" for k, v in INSTRUMENTS.items()},
    "effect_std_type": EFFECT_STD_TYPES, "rob_domain": ROB_DOMAIN_NAMES, "rob_judgement": ROB_JUDGEMENT_NAMES,
}

TABLES = {
    "data/studies.csv": STUDIES,
    "data/extracted.csv": EXTRACTED,
    "data/risk_of_bias.csv": RISK_OF_BIAS,
    "review/screening.csv": SCREENING,
    "review/search_log.csv": SEARCH_LOG,
    "review/claims.csv": CLAIMS,
    "review/published_estimates.csv": PUBLISHED_ESTIMATES,
    "review/overlap_groups.csv": OVERLAP_GROUPS,
}


def columns(table: str) -> list[str]:
    """Column names of ``table`` (a key of :data:`TABLES`) in file order."""
    return [c.name for c in TABLES[table]]


# ---------------------------------------------------------------------------
# Keys (used by validation and the data package)
# ---------------------------------------------------------------------------

#: Columns whose values must be unique within a table (composite for risk_of_bias).
PRIMARY_KEYS = {
    "data/studies.csv": ["study_id"],
    "data/extracted.csv": ["row_id"],
    "data/risk_of_bias.csv": ["study_id", "tool", "domain"],
    "review/screening.csv": ["record_id"],
    "review/search_log.csv": ["search_id"],
    "review/claims.csv": ["claim_id"],
    "review/published_estimates.csv": ["estimate_id"],
    "review/overlap_groups.csv": ["group_id"],
}

#: (table, column) -> (referenced table, referenced column); empty values are not checked.
FOREIGN_KEYS = {
    ("data/extracted.csv", "study_id"): ("data/studies.csv", "study_id"),
    ("data/risk_of_bias.csv", "study_id"): ("data/studies.csv", "study_id"),
    ("review/screening.csv", "study_id"): ("data/studies.csv", "study_id"),
    ("review/screening.csv", "duplicate_of"): ("review/screening.csv", "record_id"),
    ("review/screening.csv", "search_id"): ("review/search_log.csv", "search_id"),
}

#: Separator of several URLs in studies.urls_read and of several ids in claims.study_ids.
URL_SEPARATOR = " | "
ID_SEPARATOR = ";"

#: Short names of the tables (file stem) -> repository-relative path.
TABLE_NAMES = {path.rsplit("/", 1)[1][:-4]: path for path in TABLES}

TABLE_DESCRIPTIONS = {
    "data/studies.csv": "One row per report of an included MSC / MSC-EV study (clinical or preclinical).",
    "data/extracted.csv": ("One row per comparison x outcome x timepoint; arm 1 = MSC, arm 2 = comparator "
                           "(pre_post: arm 1 = follow-up, arm 2 = baseline). Numbers exactly as reported."),
    "data/risk_of_bias.csv": "One row per study x tool x domain: SYRCLE, RoB 2 or ROBINS-I judgements with support.",
    "review/screening.csv": "Every record considered, the stage it reached and the exclusion reason (PRISMA 2020 source).",
    "review/search_log.csv": "Every search query run, with date, source and number of records seen.",
    "review/claims.csv": "The source article's claims C1 to C6 and the verdict of the evidence.",
    "review/published_estimates.csv": ("Pooled estimates printed by published meta-analyses, for comparison with "
                                       "ours (never pooled with our data)."),
    "review/overlap_groups.csv": ("Groups of reports from the same centre or group whose patients or animals may "
                                  "overlap (protocol 9.7): each is analysed keeping one report at a time."),
}


def column(table: str, name: str) -> Column:
    """The :class:`Column` called ``name`` of ``table`` (a key of :data:`TABLES`)."""
    for c in TABLES[table]:
        if c.name == name:
            return c
    raise KeyError(f"{table} has no column {name!r}")


def describe(c: Column) -> str:
    """The column's description, or for undocumented vocabulary columns a pointer to the registry."""
    if c.description:
        return c.description
    if c.vocabulary is not None:
        return f"One value of the {c.vocabulary!r} vocabulary"
    return ""


# ---------------------------------------------------------------------------
# Display names: the short label a figure or table prints for a vocabulary value (never the slug)
# ---------------------------------------------------------------------------

DISPLAY_NAMES = {
    "mechanism": {"paracrine_trophic": "Paracrine/trophic", "immunomodulation": "Immunomodulation",
                  "neuroregeneration": "Neuroregeneration", "metabolism": "Metabolism",
                  "anti_apoptosis": "Anti-apoptosis", "function": "Function", "safety": "Safety"},
    "msc_source": {"umbilical_cord": "Umbilical cord", "cord_blood": "Cord blood", "bone_marrow": "Bone marrow",
                   "adipose": "Adipose tissue", "placenta": "Placenta", "other": "Other source",
                   "unclear": "Not reported", "not_applicable": "Not MSC"},
    "product": {"msc": "MSC", "msc_ev": "MSC extracellular vesicles", "msc_secretome": "MSC secretome",
                "msc_derived_cells": "MSC-derived cells", "msc_modified": "Modified MSC", "not_msc": "Not MSC"},
    "route": {"intravenous": "Intravenous", "intrathecal": "Intrathecal", "intraventricular": "Intraventricular",
              "intracerebral": "Intracerebral", "intranasal": "Intranasal", "intraperitoneal": "Intraperitoneal",
              "intra_arterial": "Intra-arterial", "mixed": "More than one route", "other": "Other route",
              "unclear": "Not reported"},
    "population": {"clinical": "Clinical", "preclinical": "Preclinical"},
    "design": {"rct": "Randomised trial", "nrsi_controlled": "Non-randomised controlled", "single_arm": "Single-arm",
               "retrospective": "Retrospective series", "case_report": "Case report",
               "animal_controlled": "Controlled animal study", "other": "Other design"},
    "exclusion_reason": {"not_msc": "Not MSC", "not_cp_model": "Not CP or a CP model",
                         "no_control_or_outcome": "No relevant outcome", "review": "Review, not primary research",
                         "duplicate_report": "Duplicate report of an included cohort",
                         "not_retrieved": "Report could not be read", "other": "Other reason"},
    "record_source": {"database": "Databases", "register": "Trial registers", "reading_list": "Reading list",
                      "review_reference": "Reference lists of reviews", "citation_search": "Citation searching"},
    "direction": {"favours_msc": "Favours MSC", "favours_control": "Favours control",
                  "no_difference": "No difference", "mixed": "No clear direction"},
    "verdict": dict(VERDICTS),
    "rob_judgement": {"low": "Low", "some_concerns": "Some concerns", "moderate": "Moderate", "unclear": "Unclear",
                      "high": "High", "serious": "Serious", "critical": "Critical",
                      "no_information": "No information"},
    "rob_domain": {"sequence_generation": "Sequence generation", "baseline_characteristics": "Baseline characteristics",
                   "allocation_concealment": "Allocation concealment", "random_housing": "Random housing",
                   "caregiver_blinding": "Blinding of caregivers", "random_outcome_assessment":
                   "Random outcome assessment", "assessor_blinding": "Blinding of assessors",
                   "incomplete_outcome_data": "Incomplete outcome data", "selective_reporting": "Selective reporting",
                   "other_bias": "Other bias", "randomisation": "Randomisation process",
                   "deviations": "Deviations from interventions", "missing_data": "Missing outcome data",
                   "measurement": "Measurement of the outcome", "selection_of_result": "Selection of the result",
                   "overall": "Overall", "confounding": "Confounding", "selection": "Selection of participants",
                   "classification": "Classification of interventions"},
    "timepoint_unit": {"hours": "hours", "days": "days", "weeks": "weeks", "months": "months", "years": "years"},
}


def display_name(value, vocabulary: str | None = None) -> str:
    """The display name of a vocabulary value (``"paracrine_trophic"`` -> ``"Paracrine/trophic"``).

    ``value`` may be the slug or its spaced form (``"paracrine trophic"``). Without ``vocabulary``
    every registry of :data:`DISPLAY_NAMES` is searched (a value shared by two vocabularies, such as
    ``other``, is looked up in the one named first). A value in no registry is returned unchanged.
    """
    s = str(value)
    key = s.strip().replace(" ", "_")
    vocabs = [vocabulary] if vocabulary else list(DISPLAY_NAMES)
    for v in vocabs:
        names = DISPLAY_NAMES.get(v, {})
        if key in names:
            return names[key]
        low = {k.lower(): n for k, n in names.items()}
        if key.lower() in low:
            return low[key.lower()]
    return s
