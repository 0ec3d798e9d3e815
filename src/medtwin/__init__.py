"""medtwin: an open-source medical digital twin platform."""

__version__ = "0.1.0"
