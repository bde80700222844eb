"""Where what a team takes away lives: the saved classifiers, the inbox of reviews to label, the report."""

import dagster as dg

from augment_assets.defs.resources import env_or


class DeliverablesResource(dg.ConfigurableResource):
    """The saved classifiers (`AUGMENT_CLASSIFIERS_DIR`), the inbox of CSVs to label (`AUGMENT_INBOX`) and the
    report's folder (`AUGMENT_REPORTS_DIR`)."""

    classifiers_dir: str = "data/classifiers"
    inbox_dir: str = "data/inbox"
    reports_dir: str = "data/reports"


def deliverables_resource() -> DeliverablesResource:
    return DeliverablesResource(
        classifiers_dir=env_or("AUGMENT_CLASSIFIERS_DIR", "data/classifiers"),
        inbox_dir=env_or("AUGMENT_INBOX", "data/inbox"),
        reports_dir=env_or("AUGMENT_REPORTS_DIR", "data/reports"),
    )
