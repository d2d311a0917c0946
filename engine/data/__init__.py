"""The data layer: image datasets (``datasets``: digits, IDX files, image folders, verified
downloads) and the user's CSV files (``points``)."""

from engine.data.datasets import (  # noqa: F401  (the chapter's public API)
    CHECKSUMS,
    DIGIT_CLASSES,
    FASHION_CLASSES,
    IMAGE_SIZE,
    IMAGE_SUFFIXES,
    KMNIST_CLASSES,
    KNOWN,
    MIRRORS,
    Dataset,
    DatasetError,
    DatasetNotFound,
    DownloadCancelled,
    DownloadError,
    available,
    cache_dir,
    fetch,
    load,
)
