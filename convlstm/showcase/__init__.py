"""The app's serving parts, beside the Gradio layout in app.py.

guard.py is the HTTP door in front of every route (body caps, the upload quota, per-client job caps, form types);
pipeline.py makes everything one prediction shows (players, curves, table; then filmstrip and downloads) and holds
the queue's limits; inside.py draws the cells' gates; forms.py checks form values; workdirs.py gives each request
its own unguessable folder; probe.py speaks the queue raw, for the door's tests and benchmark. player.html / .css /
.js are the frame player (a gr.HTML template) and page.css the page's own rules.
"""
