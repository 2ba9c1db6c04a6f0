"""``thermogate demo``: Wenyuan Building 2 and 3 end to end on one machine, nothing to install."""
