"""Benchmarks for ``make bench``: each module's ``main()`` measures, prints and returns figures."""


def print_figures(figures: dict) -> dict:
    """Print figures as an aligned two-column list, the same way for every benchmark."""
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        print(f"  {k:<{width}}  {v}")
    return figures
