"""The status page's style sheet: its own module, so the front (which only hashes it for the
Content-Security-Policy) imports no part of the status page."""

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#1b1b1b}
h1{font-size:1.4em;margin:.6em 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.3em 0;max-width:100%}th,td{padding:.2em .5em;border-bottom:1px solid #e4e4e4;
text-align:left;vertical-align:top;overflow-wrap:break-word}th{background:#f3f3f3;position:sticky;top:0}
td.n,th.n{text-align:right}.ok{color:#11772d}.bad{color:#b00020;font-weight:600}.muted{color:#777}
.warn{color:#9a5b00}.small{font-size:.88em}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.4em .8em;margin:.5em 0}
.notice{background:#e7f3ff;border:1px solid #9cc7f0;padding:.4em .8em;margin:.5em 0}
.problem{background:#fde7ea;border:1px solid #e6a1ad;padding:.4em .8em;margin:.5em 0}
form.inline{display:inline;margin:0}input[name=interval]{width:4.5em}
td.err{font-size:.9em;color:#b00020;overflow-wrap:anywhere}details.jobs table{width:100%}
tr.has-err td{border-bottom:none}td.iv,.t,code.id{white-space:nowrap}
details.jobs{margin:.25em 0}details.jobs>summary{cursor:pointer;padding:.2em 0}
pre.said{background:#f6f6f6;border:1px solid #e4e4e4;padding:.5em;white-space:pre-wrap;max-width:100ch}
a.action{display:inline-block;border:1px solid #9aa;border-radius:3px;padding:0 .4em;margin:.1em .2em .1em 0;
text-decoration:none;white-space:nowrap}p.field{margin:.6em 0}
nav a{margin-right:1em}.pager a,.pager span{margin-right:.6em}code{font-size:.95em}
"""
