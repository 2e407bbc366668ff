"""Files: atomic writes, images and videos, progress bars."""
