"""Simulate: what active learning would save on this run's labeled rows, with error bars."""

from __future__ import annotations

import streamlit as st

from labelnext.errors import LabelnextError
from labelnext.simulate_figure import METRICS, curves_figure
from labelnext_app import cache, runs, safe_text, ui
from labelnext_app import simulate_actions as actions

ui.ensure_entry_point()

ss = st.session_state

st.title("Simulate")
st.caption(
    "Replays the labeling loop on the rows that already have labels: the labeled rows are split "
    "once into a pool and a test set, and each strategy labels the pool batch by batch from the "
    "same random start, retraining a logistic regression on the embedding every round. Repeated "
    "over several seeds, so a gain inside seed noise is called what it is."
)
run = runs.current_run()
if run is None:
    st.info("No model run is open. Choose one on Home.")
    st.stop()

try:
    with st.spinner("Reading the labeled rows and their embedding…"):
        data = cache.simulation_data(run.content_hash, run)
except LabelnextError as exc:
    ui.show_error(exc, prefix="**This run cannot be simulated yet.**")
    st.stop()

pool = actions.pool_size(data)
st.markdown(
    f"**{data.n_rows:,}** labeled rows of {safe_text.md(run.name)} · about **{pool:,}** in the "
    f"pool and **{data.n_rows - pool:,}** held out for testing · features: "
    f"{safe_text.md(data.source)}"
)

# -- settings ------------------------------------------------------------------------------------
actions.init_widgets(pool)
job = actions.current_job()
running = job is not None and job.running
with st.container(border=True):
    st.multiselect(
        "Strategies",
        options=list(actions.CHOICES),
        key="simulate_strategies",
        help="random is always run: it is the baseline. margin, entropy, ratio and least "
        "confidence take the most uncertain rows; diverse, cluster, typical and auto are the "
        "batch methods of the Batch page (uncertainty by margin).",
        disabled=running,
    )
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.number_input("Seeds", min_value=1, max_value=50, key="simulate_seeds", disabled=running)
    c2.number_input(
        "Batch size", min_value=1, max_value=max(1, pool), key="simulate_batch", disabled=running
    )
    c3.number_input(
        "Budget (labels)",
        min_value=2,
        max_value=max(2, pool),
        key="simulate_budget",
        disabled=running,
    )
    c4.number_input(
        "Initial random labels",
        min_value=2,
        max_value=max(2, pool),
        key="simulate_initial",
        disabled=running,
    )
    c5.slider(
        "Target (share of full-pool accuracy)",
        min_value=0.5,
        max_value=1.0,
        step=0.01,
        key="simulate_target",
        disabled=running,
    )
    st.button(
        "Run simulation",
        key="simulate_run",
        type="primary",
        on_click=actions.start,
        args=(data,),
        disabled=running,
        icon=":material/play_arrow:",
    )

ui.show_outcome(ss.get(actions.OUTCOME))


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """The running job's progress bar and Cancel, refreshed every second."""
    job = actions.current_job()
    if job is None:
        return
    if not job.running:
        actions.collect()
        st.rerun()
    fraction, text = actions.progress_text(job)
    st.progress(fraction, text=text)
    st.button(
        "Cancel",
        key="simulate_cancel",
        on_click=actions.cancel,
        icon=":material/stop:",
        disabled=job.cancel_event.is_set(),
    )


if job is not None:
    progress_panel()

# -- results -------------------------------------------------------------------------------------
result, reopened = actions.shown_result(data)
if result is None:
    if job is None:
        st.info("Choose the strategies and the budget, then run the simulation.")
    st.stop()

st.subheader("Result")
if reopened:
    st.caption("Kept from an earlier run with these settings.")
winner = actions.adoptable(result)
# the verdict is our own words around strategy names of CHOICES and numbers: no file text
(st.success if winner else st.info)(result.verdict())
recommended = actions.recommended_line(result)
if recommended:
    st.caption(recommended)

metric = (
    st.segmented_control(
        "Metric",
        options=list(METRICS),
        format_func=lambda m: METRICS[m],
        default="accuracy",
        key="simulate_metric",
    )
    or "accuracy"
)
st.plotly_chart(curves_figure(result, metric), key="simulate_chart", width="stretch")
st.dataframe(actions.table(result), key="simulate_table", hide_index=True, width="stretch")

d1, d2, d3 = st.columns(3)
d1.download_button(
    "Table (CSV)",
    data=actions.table_csv(result),
    file_name="simulation_table.csv",
    mime="text/csv",
    key="simulate_download_table",
    icon=":material/download:",
)
d2.download_button(
    "Curves (CSV)",
    data=actions.curves_csv(result),
    file_name="simulation_curves.csv",
    mime="text/csv",
    key="simulate_download_curves",
    icon=":material/download:",
)
png, how = actions.png(result, metric)
if png is not None:
    d3.download_button(
        "Chart (PNG)",
        data=png,
        file_name=f"simulation_{metric}.png",
        mime="image/png",
        key="simulate_download_png",
        icon=":material/image:",
        help=f"Drawn with {how}.",
    )
else:
    d3.caption(how)

with st.container(border=True):
    if winner is None:
        st.markdown("**No reliable winner** at this budget: the sidebar's strategy stays as it is.")
    else:
        name, method, under = winner
        st.markdown(
            f"**{safe_text.md(name)}** is the winner: strategy **{under}**, batch method "
            f"**{method}**, batches of **{result.settings.batch}**."
        )
        st.button(
            f"Use {name} as the default",
            key="simulate_adopt",
            on_click=actions.adopt,
            args=(name, result.settings.batch),
            icon=":material/check:",
        )
st.caption(
    f"{result.n_pool:,} pool rows, {result.n_test:,} test rows; model "
    f"{safe_text.md(result.settings.estimator)}; {result.timing.get('wall', 0):.0f} s "
    f"({result.timing.get('rounds', 0):,.0f} rounds)."
)
