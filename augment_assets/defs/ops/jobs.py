"""Jobs: one per partitions definition (inferred from the selected assets), each launchable from the UI, a schedule or a sensor."""


import dagster as dg

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    description="Read the source, label and dedup, split into training and holdout, nested folds; leakage checks.",
)
generators_job = dg.define_asset_job(
    "generators_job",
    selection=dg.AssetSelection.assets("prompt_table", "sentiment_generator"),
    description="Prompt table and fine-tuned generator of one generator partition (sentiment x data size x repeat).",
)
synthetic_job = dg.define_asset_job(
    "synthetic_job",
    selection=dg.AssetSelection.assets("synthetic_reviews"),
    description="Synthetic reviews of one generator (sentiment x data size x repeat) at one temperature.",
)
evaluate_job = dg.define_asset_job(
    "evaluate_job",
    selection=dg.AssetSelection.groups("evaluate", "share"),
    description=(
        "The reference's checks, every training set, the classifier metrics with the headline, learning curve and "
        "recommendation, then the shared views and the Parquet export; leakage checks."
    ),
)

jobs = [ingest_job, generators_job, synthetic_job, evaluate_job]
