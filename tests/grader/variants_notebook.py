"""Realistic mistakes in the notebook lab, and exactly what each must cost.

The patches apply to the notebook's code, cell by cell (see ``patched_notebook``)."""

JOIN = "test_join_of_two_measurements"
HOURLY = "test_hourly_means"
MOVING = "test_moving_average_per_device"
SPREAD = "test_sample_standard_deviation"
PLOT = "test_a_plot_and_a_clean_run"

VARIANTS = [
    {
        "name": "an_outer_join",
        "patches": [('    how="inner",', '    how="outer",')],
        # Times with only one of the two readings stay, with NaN: watts becomes a float.
        "loses": {JOIN: 3},
        "says": "an outer join keeps times that lack one of the two",
    },
    {
        "name": "joined_on_the_time_alone",
        "patches": [('    on=["_time", "device"],', '    on="_time",')],
        "loses": {JOIN: 3},
        "says": "is not a DataFrame with columns",
    },
    {
        "name": "empty_hours_kept",
        "patches": [("fn: mean, createEmpty: false)", "fn: mean, createEmpty: true)")],
        "loses": {HOURLY: 3},
    },
    {
        "name": "hours_labelled_by_their_start",
        "patches": [
            ("fn: mean, createEmpty: false)", 'fn: mean, createEmpty: false, timeSrc: "_start")')
        ],
        "loses": {HOURLY: 3},
        "says": "labelled by its end",
    },
    {
        "name": "one_moving_average_for_all_devices",
        "patches": [("    |> movingAverage(n: 3)", "    |> group()\n    |> movingAverage(n: 3)")],
        "loses": {MOVING: 2},
        "says": "never after group()",
    },
    {
        "name": "the_population_standard_deviation",
        "patches": [("|> stddev() |>", '|> stddev(mode: "population") |>')],
        "loses": {SPREAD: 2},
        "says": "divide by n - 1",
    },
    {
        "name": "the_figure_saved_not_shown",
        "patches": [("plt.show()", 'fig.savefig("temperatures.png")\nplt.close(fig)')],
        "loses": {PLOT: 0.5},
        "says": "no image in any cell's output",
    },
    {
        "name": "a_leftover_debugging_cell",
        "patches": [("client.close()", "client.close()\nprint(df.describe())")],
        "loses": {PLOT: 0.5},
        "says": "raised NameError",
    },
]
