"""Studies that were not shipped, run from the checkout root (`python -m experiments.<study>`); not installed,
and never imported by `zoo`."""
