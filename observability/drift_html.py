"""The ``tfxp drift`` page: a jinja2 template and inline SVG bar charts.

The page is one self-contained file (``<workspace>/reports/drift-<model>/
<time>/index.html``): the run report's style (``report_html.STYLE``), the
distances table, the schema anomalies, and for each crossed distance a bar
chart of the two distributions compared (training vs served for skew, the
previous window vs the later one for drift), drawn as inline SVG, so the page
needs no image files and no network.
"""
from __future__ import annotations

import html
from typing import List, Optional, Sequence

from tfxp.observability import mlmd, report_html

CHART_WIDTH, CHART_HEIGHT = 760, 300
_MARGIN_LEFT, _MARGIN_BOTTOM, _MARGIN_TOP = 70, 104, 44
LABEL_CHARS = 22
COLORS = ("#4c72b0", "#dd8452")  # reference, served (the report's palette)


def bar_chart_svg(title: str, labels: Sequence[str], series: Sequence[tuple],
                  width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> str:
    """Grouped bars, one group per label, one bar per series.

    Args:
      labels: ``[B]`` bucket or value names (shown cut to ``LABEL_CHARS``
        characters, whole in each bar's tooltip).
      series: ``(name, [B] shares in [0, 1])`` per series; the y axis runs
        from 0 to the largest share.
    Returns:
      An ``<svg>`` element (escaped text), ``width`` x ``height`` pixels.
    """
    top = max((v for _, values in series for v in values), default=0.0) or 1.0
    plot_w = width - _MARGIN_LEFT - 10
    plot_h = height - _MARGIN_TOP - _MARGIN_BOTTOM
    group = plot_w / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
           f'font-family="sans-serif" font-size="10">',
           f'<text x="{_MARGIN_LEFT}" y="14" font-size="12" font-weight="600">{esc(title)}</text>']
    base = _MARGIN_TOP + plot_h
    for frac in (0.0, 0.5, 1.0):
        y = base - frac * plot_h
        out.append(f'<line x1="{_MARGIN_LEFT}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" '
                   f'stroke="#e3e6ec"/><text x="{_MARGIN_LEFT - 4}" y="{y + 3:.1f}" '
                   f'text-anchor="end">{frac * top:.2f}</text>')
    for i, label in enumerate(labels):
        x0 = _MARGIN_LEFT + i * group + group * 0.1
        for s, (name, values) in enumerate(series):
            value = values[i]
            h = value / top * plot_h
            out.append(f'<rect class="bar" x="{x0 + s * bar:.1f}" y="{base - h:.1f}" '
                       f'width="{bar:.1f}" height="{h:.1f}" fill="{COLORS[s % len(COLORS)]}">'
                       f'<title>{esc(name)} {esc(label)}: {value:.4f}</title></rect>')
        short = label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "\u2026"
        cx = x0 + group * 0.4
        out.append(f'<text x="{cx:.1f}" y="{base + 10}" text-anchor="end" '
                   f'transform="rotate(-40 {cx:.1f} {base + 10})">{esc(short)}</text>')
    for s, (name, _) in enumerate(series):  # the legend, under the title
        x = _MARGIN_LEFT + s * 110
        out.append(f'<rect x="{x}" y="22" width="10" height="10" '
                   f'fill="{COLORS[s % len(COLORS)]}"/>'
                   f'<text x="{x + 14}" y="31">{esc(name)}</text>')
    out.append("</svg>")
    return "".join(out)


TEMPLATE = """<title>Drift of {{ r.model }} version {{ b.version }}</title>
</head>
<body>
<header>
  <h1>Served traffic of {{ r.model }} &mdash; version {{ b.version }}</h1>
  <div class="meta">
    run {% if run_report %}<a style="color:#fff" href="{{ run_report }}">{{ b.run_id }}</a>{% else %}{{ b.run_id }}{% endif %}
    &middot; dataset <b>{{ b.dataset }}</b> &middot; checked {{ created_ms | when }}
    &middot; verdict <b>{{ r.verdict }}</b> (exit {{ r.exit_code }})
  </div>
</header>
<main>
<section id="traffic">
  <h2>Traffic</h2>
  <p>{{ t.requests }} logged requests ({{ t.examples }} examples) in {{ r.inputs.files | length }}
  file(s) under <code>{{ r.inputs.log_location }}</code>, written {{ first_ms | when }} ..
  {{ last_ms | when }}{% if r.inputs.since %}, since {{ (r.inputs.since * 1000) | int | when }}{% endif %}.
  Answered by version(s): {% for v, n in t.versions | dictsort %}{{ v or "?" }} ({{ n }}){{ ", " if not loop.last }}{% endfor %}.</p>
  <details><summary>{{ r.inputs.files | length }} log file(s)</summary>
  <table id="files"><tr><th>file</th><th>opened</th><th>last written</th><th>records</th></tr>
  {% for f in r.inputs.files %}<tr><td><code>{{ f.path }}</code></td>
    <td>{{ (f.start_s * 1000) | int | when }}</td><td>{{ (f.end_s * 1000) | int | when }}</td>
    <td class="num">{{ t.records_per_file.get(f.path, 0) }}</td></tr>{% endfor %}
  </table></details>
  {% if t.windows | length > 1 %}
  <table id="windows"><tr><th>window</th><th>files opened</th><th>files</th></tr>
  {% for w in t.windows %}<tr><td>{{ loop.index }}</td><td>{{ w.label }}</td><td class="num">{{ w.files | length }}</td></tr>{% endfor %}
  </table>
  {% else %}<p class="muted">One window: no drift between windows (<code>--window</code>).</p>{% endif %}
  <p>Baseline: the training split's statistics <code>{{ b.statistics_path }}</code>, schema
  <code>{{ b.schema_path }}</code>, thresholds
  {% if b.thresholds_path %}<code>{{ b.thresholds_path }}</code>{% else %}<span class="muted">none</span>{% endif %}.</p>
  {% if t.ignored %}<p>Features the model does not read (ignored by its signatures):
  {% for k, n in t.ignored | dictsort %}{{ k }} ({{ n }}){{ ", " if not loop.last }}{% endfor %}.</p>{% endif %}
</section>

<section id="distances">
  <h2>Distances</h2>
  <p>TFDV's own measurements (<code>drift_skew_info</code>): L-infinity for categorical
  features, Jensen-Shannon divergence for numeric ones; crossed when above the threshold.</p>
  <table id="distances-table">
    <tr><th>feature</th><th>kind</th><th>comparison</th><th>measure</th><th>distance</th>
        <th>threshold</th><th>verdict</th></tr>
    {% for row in r.rows %}
    <tr><td>{{ row.feature }}</td><td>{{ row.kind }}</td>
      <td>{% if row.comparison == "skew" %}served vs training{% else %}window {{ row.window + 1 }} vs {{ row.window }}{% endif %}</td>
      <td>{{ row.measure_text }}</td>
      <td class="num">{{ "%.4f" | format(row.distance) if row.distance is not none else "-" }}</td>
      <td class="num">{{ "%.4f" | format(row.threshold) if row.threshold is not none else "-" }}</td>
      <td class="{{ 'bad' if row.verdict == 'crossed' else ('ok' if row.verdict == 'ok' else 'muted') }}">{{ row.verdict }}</td></tr>
    {% else %}
    <tr><td colspan="7" class="muted">no thresholds for {{ b.dataset }}</td></tr>
    {% endfor %}
  </table>
</section>

<section id="anomalies">
  <h2>Schema anomalies in the served traffic</h2>
  {% if r.findings %}
  <table id="anomalies-table">
    <tr><th>feature</th><th>severity</th><th>anomaly</th><th>details</th></tr>
    {% for f in r.findings %}
    <tr><td>{{ f.feature }}</td><td class="bad">{{ f.severity }}</td><td>{{ f.short }}</td>
        <td>{{ f.description }}</td></tr>
    {% endfor %}
  </table>
  {% else %}<p class="ok">None: the traffic matches the schema.</p>{% endif %}
</section>

<section id="charts">
  <h2>Drifting features</h2>
  {% for c in charts %}
  <div class="chart" data-feature="{{ c.feature }}">{{ c.svg }}</div>
  {% else %}<p class="ok">No distance crossed its threshold.</p>{% endfor %}
</section>

<section id="exit-codes">
  <h2>Exit codes</h2>
  <p>0 ok &middot; 2 bad input (nothing written) &middot; 3 a threshold crossed &middot;
  4 schema anomalies, no threshold crossed.</p>
</section>
</main>
</body>
</html>
"""


class _Chart:
    def __init__(self, feature: str, svg):
        self.feature, self.svg = feature, svg


def render(result, run_report: Optional[str] = None) -> str:
    """The page of a ``drift.DriftResult``; ``run_report`` is a relative link
    to the baseline run's report (None: not written)."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = mlmd.format_time
    charts: List[_Chart] = [
        _Chart(c.feature, Markup(bar_chart_svg(c.title, c.labels, [
            (c.reference_name, c.reference), (c.served_name, c.served)])))
        for c in result.charts]
    files = result.inputs.files
    return env.from_string(report_html.STYLE + TEMPLATE).render(
        r=result, b=result.baseline, t=result.traffic, charts=charts,
        run_report=run_report, created_ms=int(result.created_s * 1000),
        first_ms=int(files[0].start_s * 1000), last_ms=int(max(f.end_s for f in files) * 1000))
