"""Identity resolution: which profiles a touchpoint names are one person, and merging them under encryption."""
