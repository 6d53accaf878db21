"""streetwatch: patrol-car dashcam footage in, reviewed and geolocated city-management cases out."""

__version__ = "0.1.0"
