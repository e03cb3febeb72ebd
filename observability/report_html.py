"""jinja2 templates of the run report and the comparison page
(``observability.report`` renders them with autoescaping; filters ``metric``,
``duration`` and ``when`` come from ``observability.mlmd``).

Kept as Python strings so the package ships them without package data.
"""

STYLE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
         color: #1d2330; background: #f6f7f9; }
  header { background: #1d2d50; color: #fff; padding: 16px 28px; }
  header h1 { margin: 0 0 4px; font-size: 20px; }
  header .meta { opacity: .85; font-size: 13px; }
  nav { padding: 8px 28px; background: #e8ebf1; font-size: 13px; }
  nav a { margin-right: 14px; color: #1d2d50; }
  main { padding: 8px 28px 40px; max-width: 1240px; }
  section { background: #fff; border: 1px solid #dde1e8; border-radius: 6px;
            padding: 10px 18px 16px; margin: 16px 0; }
  h2 { font-size: 17px; margin: 6px 0 10px; }
  h3 { font-size: 14px; margin: 14px 0 6px; }
  table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0; }
  th, td { border-bottom: 1px solid #e3e6ec; padding: 3px 9px; text-align: left;
           vertical-align: top; }
  th { background: #f0f2f6; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .scroll { max-height: 420px; overflow: auto; display: inline-block; }
  img { max-width: 100%; height: auto; border: 1px solid #eceef2; }
  .ok { color: #1b7f3b; font-weight: 600; }
  .bad { color: #b3261e; font-weight: 600; }
  .muted { color: #6b7280; }
  code { background: #f0f2f6; padding: 1px 4px; border-radius: 3px; font-size: 12px; }
</style>
"""

# Records in each <img> the size the browser decoded (data-decoded="WxH")
# and reports images that failed to load on the console, so a headless
# browser run (tests/test_report.py) can check the page as a user sees it.
IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  for (const img of document.images) {
    img.dataset.decoded = img.naturalWidth + "x" + img.naturalHeight;
    if (!img.naturalWidth) console.error("image failed to load: " + img.getAttribute("src"));
  }
});
</script>
"""

RUN_TEMPLATE = """<title>Run {{ r.run_id }} ({{ r.pipeline }})</title>
</head>
<body>
<header>
  <h1>{{ r.pipeline }} &mdash; run {{ r.run_id }}</h1>
  <div class="meta">
    family <b>{{ r.family or "?" }}</b> &middot; dataset <b>{{ r.dataset or "?" }}</b>
    {% if s.components %}&middot; started {{ s.start_ms | when }} &middot; took
    {{ s.wall_seconds | duration }}{% endif %} &middot; state <b>{{ s.state }}</b>
    &middot; blessed <b>{{ s.blessing }}</b>
  </div>
</header>
<nav>
  <a href="#run">Run</a><a href="#training">Training</a><a href="#evaluation">Evaluation</a>
  <a href="#blessing">Blessing</a><a href="#data">Data</a><a href="#model">Model</a>
</nav>
<main>
<section id="run">
  <h2>Run</h2>
  <p>
  {% if links.config %}<a href="{{ links.config }}">config.json</a> (repeat with
  <code>tfxp run --config {{ r.config_path }}</code>){% else %}<span class="muted">no
  config.json recorded</span>{% endif %}
  &middot; {% if links.log %}<a href="{{ links.log }}">run log</a>{% else %}<span
  class="muted">no run log</span>{% endif %}
  </p>
  {% if "timeline" in r.images %}
  <img src="{{ r.images.timeline[0] }}" width="{{ r.images.timeline[1][0] }}"
       height="{{ r.images.timeline[1][1] }}" alt="component timeline">
  {% endif %}
  <table>
    <tr><th>component</th><th>state</th><th>started</th><th>seconds</th></tr>
    {% for c in s.components %}
    <tr><td>{{ c.component }}</td>
        <td class="{{ 'bad' if c.state in ('FAILED', 'CANCELED') else '' }}">{{ c.state }}</td>
        <td>{{ c.start_ms | when }}</td><td class="num">{{ "%.1f" | format(c.seconds) }}</td></tr>
    {% endfor %}
  </table>
</section>

<section id="training">
  <h2>Training</h2>
  {% if hist %}
  <p>Keras history per epoch ({{ history_rows | length }} epochs, global batch
  {{ r.history.get("global_batch", "?") }}, {{ r.history.get("replicas", "?") }} replica(s)).</p>
  {% if "training" in r.images %}
  <img src="{{ r.images.training[0] }}" width="{{ r.images.training[1][0] }}"
       height="{{ r.images.training[1][1] }}" alt="training curves">
  {% endif %}
  <table>
    <tr><th>epoch</th>{% for k in hist %}<th>{{ k }}</th>{% endfor %}</tr>
    {% for row in history_rows %}
    <tr><td class="num">{{ row.epoch }}</td>{% for k in hist %}
      <td class="num">{{ row[k] | metric if k in row else "" }}</td>{% endfor %}</tr>
    {% endfor %}
  </table>
  {% set warm = r.history.get("warm_start") %}
  {% if warm %}
  <p id="warm-start"><b>Warm start</b> ({{ warm.status }}): {{ warm.message }}.</p>
  {% endif %}
  {% set ex = r.history.get("exported_epoch") %}
  {% if ex and ex.best_epoch %}
  <h3>Exported epoch</h3>
  <p>The model exported is the one after <b>epoch {{ ex.best_epoch }}</b>: {{ ex.reason }}.
  {% if ex.patience %}Early stopping patience: {{ ex.patience }} epoch(s).{% endif %}</p>
  <table id="exported-epoch">
    <tr><th>epoch</th><th>{{ ex.monitor }}</th><th></th></tr>
    {% for v in ex.curve %}
    <tr><td class="num">{{ loop.index }}</td><td class="num">{{ v | metric }}</td>
      <td>{{ "exported" if loop.index == ex.best_epoch else "" }}</td></tr>
    {% endfor %}
  </table>
  {% endif %}
  {% else %}
  <p class="muted">No training history (the Trainer did not run or wrote no history.json).</p>
  {% endif %}
  {% if r.tensorboard_dir %}
  <h3>TensorBoard</h3>
  <p>Logs: <a href="{{ links.tensorboard }}">{{ r.tensorboard_dir }}</a><br>
  Open with <code>.venv/bin/tensorboard --logdir {{ r.tensorboard_dir }}</code>
  and browse to <code>http://localhost:6006</code>.</p>
  {% endif %}
</section>

<section id="evaluation">
  <h2>Evaluation (TFMA)</h2>
  {% if r.metrics %}
  {% if "slices" in r.images %}
  <img src="{{ r.images.slices[0] }}" width="{{ r.images.slices[1][0] }}"
       height="{{ r.images.slices[1][1] }}" alt="{{ metric }} per slice">
  {% endif %}
  <h3>Metrics overall and per slice</h3>
  <div class="scroll"><table id="metrics">
    <tr><th>slice</th>{% for m in metric_names %}<th>{{ m }}</th>{% endfor %}</tr>
    {% for name, values in slices %}
    <tr><td>{{ name }}</td>{% for m in metric_names %}
      <td class="num">{{ values[m] | metric(m) if m in values else "" }}</td>{% endfor %}</tr>
    {% endfor %}
  </table></div>
  {% else %}
  <p class="muted">No evaluation (the Evaluator did not run).</p>
  {% endif %}
  {% if confusion_rows %}
  <h3>Confusion matrix{% if r.confusion_threshold is not none and r.label_names|length == 2 %} at threshold {{ "%g"|format(r.confusion_threshold) }} (BinaryAccuracy's){% elif r.label_names|length > 2 %} (argmax){% endif %}</h3>
  {% if "confusion" in r.images %}
  <img src="{{ r.images.confusion[0] }}" width="{{ r.images.confusion[1][0] }}"
       height="{{ r.images.confusion[1][1] }}" alt="confusion matrix">
  {% endif %}
  <table id="confusion">
    <tr><th>actual \\ predicted</th>{% for name, _ in confusion_rows %}<th>{{ name }}</th>{% endfor %}</tr>
    {% for name, counts in confusion_rows %}
    <tr><th>{{ name }}</th>{% for c in counts %}<td class="num">{{ c }}</td>{% endfor %}</tr>
    {% endfor %}
  </table>
  {% endif %}
  {% if "roc_pr" in r.images %}
  <h3>ROC and precision-recall</h3>
  <img src="{{ r.images.roc_pr[0] }}" width="{{ r.images.roc_pr[1][0] }}"
       height="{{ r.images.roc_pr[1][1] }}" alt="ROC and PR curves">
  {% endif %}
</section>

<section id="blessing">
  <h2>Blessing</h2>
  {% if r.blessing and r.blessing.no_thresholds %}
  <p>Blessed: <span class="muted">not evaluated: no thresholds</span>.
  The eval config sets no threshold, so the Evaluator computed the metrics
  but gave no verdict, and the Pusher, which pushes blessed models only,
  pushed {{ "version " ~ s.pushed_version if s.pushed_version else "nothing" }}.
  Run without <code>--threshold none</code> (the family's bound) or with
  <code>--threshold VALUE</code> to bless and push.</p>
  {% elif r.blessing %}
  <p>Blessed:
  {% if r.blessing.blessed %}<span class="ok">yes</span>{% elif r.blessing.blessed is none %}<span
  class="muted">unknown</span>{% else %}<span class="bad">no</span>{% endif %}
  &middot; TFMA validation {{ {None: "not recorded", True: "passed", False: "failed"}[r.blessing.validation_ok] }}
  &middot; baseline: {{ r.blessing.baseline or "none (first blessed model: absolute thresholds only)" }}</p>
  <h3>Thresholds</h3>
  {% if r.majority_floor %}
  <p id="majority-floor">Binary accuracy floor {{ r.majority_floor.floor | metric }}: one example
  above the majority-class share {{ r.majority_floor.majority_share | metric }} of the
  {{ r.majority_floor.examples }} eval examples (class counts
  {% for k, v in r.majority_floor.counts.items() %}{{ k }}: {{ v }}{{ ", " if not loop.last }}{% endfor %}),
  so a model that predicts one class is not blessed.</p>
  {% endif %}
  <ul>{% for t in r.blessing.thresholds %}<li><code>{{ t }}</code></li>{% else %}<li
  class="muted">none</li>{% endfor %}</ul>
  {% if r.blessing.failures %}
  <h3>Failed checks</h3>
  <ul>{% for f in r.blessing.failures %}<li class="bad">{{ f }}</li>{% endfor %}</ul>
  {% endif %}
  {% else %}
  <p class="muted">Not evaluated.</p>
  {% endif %}
  {% if s.infra_blessed is not none %}
  <h3>Infra validation</h3>
  <p>Served correctly and within the latency gate:
  {% if s.infra_blessed %}<span class="ok">yes</span>{% else %}<span class="bad">no</span>:
  {{ s.infra_reason or "" }}{% endif %}</p>
  {% if s.latency_ms %}
  <table>
    <tr><th>gRPC Predict (ms)</th>{% for k in s.latency_ms | sort %}<th>{{ k }}</th>{% endfor %}</tr>
    <tr><td>candidate</td>{% for k in s.latency_ms | sort %}<td class="num">{{ "%.2f" | format(s.latency_ms[k]) }}</td>{% endfor %}</tr>
    {% if s.current_latency_ms %}<tr><td>current version</td>{% for k in s.latency_ms | sort %}<td
      class="num">{{ "%.2f" | format(s.current_latency_ms[k]) if k in s.current_latency_ms else "" }}</td>{% endfor %}</tr>{% endif %}
  </table>
  {% endif %}
  {% endif %}
</section>

<section id="data">
  <h2>Data</h2>
  {% for split in r.stats %}
  <h3>Split {{ split.split }}: {{ split.num_examples }} examples</h3>
  <table class="stats">
    <tr><th>feature</th><th>type</th><th>present</th><th>missing %</th><th>min</th>
        <th>mean</th><th>max</th><th>unique</th><th>top values</th></tr>
    {% for f in split.features %}
    <tr><td>{{ f.name }}</td><td>{{ f.kind }}</td><td class="num">{{ f.present }}</td>
      <td class="num">{{ "%.1f" | format(f.missing_pct) }}</td>
      {% for v in (f.minimum, f.mean, f.maximum) %}
      <td class="num">{{ "%.4g" | format(v) if v is not none and f.present else "" }}</td>
      {% endfor %}
      <td class="num">{{ f.unique if f.unique is not none else "" }}</td>
      <td>{% for v, n in f.top_values %}{{ v }} ({{ n }}){{ ", " if not loop.last }}{% endfor %}</td></tr>
    {% endfor %}
  </table>
  {% else %}
  <p class="muted">No statistics (StatisticsGen did not run).</p>
  {% endfor %}
  <h3>Anomalies (ExampleValidator)</h3>
  {% if r.anomalies is none %}
  <p class="muted">ExampleValidator did not run.</p>
  {% elif r.anomalies %}
  <table id="anomalies">
    <tr><th>split</th><th>feature</th><th>severity</th><th>anomaly</th><th>details</th></tr>
    {% for a in r.anomalies %}
    <tr><td>{{ a.split }}</td><td>{{ a.feature }}</td><td class="bad">{{ a.severity }}</td>
        <td>{{ a.short }}</td><td>{{ a.description }}</td></tr>
    {% endfor %}
  </table>
  {% else %}
  <p class="ok">No anomalies against the schema.</p>
  {% endif %}
</section>

<section id="model">
  <h2>Model</h2>
  <table>
    <tr><th>family</th><td>{{ r.family or "?" }}</td></tr>
    <tr><th>dataset / labels</th><td>{{ r.dataset or "?" }}: {{ r.label_names | join(", ") }}</td></tr>
    <tr><th>parameters</th><td class="num">{{ "{:,}".format(r.history.params) if r.history.params is defined else "?" }}</td></tr>
    <tr><th>SavedModel</th><td>{% if r.saved_model_path %}<a href="{{ links.saved_model }}">{{ r.saved_model_path }}</a>,
      {{ "{:,}".format(r.saved_model_bytes) }} bytes{% else %}<span class="muted">none</span>{% endif %}</td></tr>
    <tr><th>pushed</th><td>{% if s.pushed_path %}version <b>{{ s.pushed_version }}</b> at
      <code>{{ s.pushed_path }}</code>{% else %}<span class="muted">nothing pushed</span>{% endif %}</td></tr>
    {% if s.pushed_path or r.drift %}
    <tr><th>served traffic</th><td id="drift">{% if r.drift %}<a href="{{ links.drift }}">latest
      drift check</a> of version {{ r.drift.version }}, {{ r.drift.created_ms | when }}:
      <b class="{{ 'ok' if r.drift.exit_code == 0 else 'bad' }}">{{ r.drift.verdict }}</b>
      ({{ r.drift.requests }} requests){% else %}<span class="muted">not checked yet:
      <code>tfxp drift --model {{ s.pushed_path.rstrip("/").split("/")[-2] }}</code></span>{% endif %}</td></tr>
    {% endif %}
  </table>
  {% for sig in r.signatures %}
  <h3>Signature <code>{{ sig.name }}</code> <span class="muted">({{ sig.method }})</span></h3>
  <table>
    <tr><th></th><th>name</th><th>dtype</th><th>shape</th></tr>
    {% for t in sig.inputs %}<tr><td>input</td><td>{{ t.name }}</td><td>{{ t.dtype }}</td><td>{{ t.shape }}</td></tr>{% endfor %}
    {% for t in sig.outputs %}<tr><td>output</td><td>{{ t.name }}</td><td>{{ t.dtype }}</td><td>{{ t.shape }}</td></tr>{% endfor %}
  </table>
  {% endfor %}
</section>
</main>
""" + IMAGE_CHECK + """</body>
</html>
"""

COMPARISON_TEMPLATE = """<title>Comparison of {{ rows | length }} runs</title>
</head>
<body>
<header><h1>Comparison of {{ rows | length }} runs</h1>
<div class="meta">{{ rows | map(attribute="family") | join(", ") }}</div></header>
<main>
<section>
  <img src="comparison.png" width="{{ size[0] }}" height="{{ size[1] }}" alt="comparison chart">
  <table id="comparison">
    <tr><th>family</th><th>dataset</th><th>run</th><th>blessing metric</th><th>value</th>
        <th>accuracy</th><th>parameters</th><th>SavedModel MB</th><th>blessed</th>
        <th>pushed</th><th>wall</th></tr>
    {% for r in rows %}
    <tr><td>{{ r.family }}</td><td>{{ r.dataset }}</td>
      <td>{% if r.report %}<a href="{{ r.report }}">{{ r.run_id }}</a>{% else %}{{ r.run_id }}{% endif %}</td>
      <td>{{ r.metric }}</td>
      <td class="num">{{ r.value | metric if r.value is not none else "-" }}</td>
      <td class="num">{{ r.accuracy | metric if r.accuracy is not none else "-" }}</td>
      <td class="num">{{ "{:,}".format(r.params) if r.params is not none else "-" }}</td>
      <td class="num">{{ "%.2f" | format(r.saved_model_bytes / 1e6) if r.saved_model_bytes is not none else "-" }}</td>
      <td>{{ {None: "-", True: "yes", False: "no"}[r.blessed] }}</td>
      <td>{{ r.pushed or "-" }}</td>
      <td class="num">{{ r.wall_s | duration }}</td></tr>
    {% endfor %}
  </table>
</section>
</main>
""" + IMAGE_CHECK + """</body>
</html>
"""
