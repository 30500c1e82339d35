"""Guide import from the project's JSON format and the iFixit / MyFixit JSON-lines format."""

from repairgpt.services.importer.database import (
    SEED_FILE,
    ImportReport,
    import_guide_file,
    seed_if_empty,
)
from repairgpt.services.importer.guide_file import GuideFile, read_guide_file
from repairgpt.services.importer.ifixit_jsonl import (
    MYFIXIT_LICENSE,
    device_category_from_ancestors,
    myfixit_step_images,
    parse_myfixit_manual,
)
from repairgpt.services.importer.project_format import (
    DIFFICULTIES,
    PROJECT_FORMAT,
    parse_project_device,
    parse_project_document,
    parse_project_guide,
)
from repairgpt.services.importer.records import (
    DeviceRecord,
    GuideFileError,
    GuideRecord,
    StepRecord,
    slugify,
)

__all__ = [
    "DIFFICULTIES",
    "MYFIXIT_LICENSE",
    "PROJECT_FORMAT",
    "SEED_FILE",
    "DeviceRecord",
    "GuideFile",
    "GuideFileError",
    "GuideRecord",
    "ImportReport",
    "StepRecord",
    "device_category_from_ancestors",
    "import_guide_file",
    "myfixit_step_images",
    "parse_myfixit_manual",
    "parse_project_device",
    "parse_project_document",
    "parse_project_guide",
    "read_guide_file",
    "seed_if_empty",
    "slugify",
]
