"""Simulated devices and residents of Wenyuan Building 2 and 3."""
