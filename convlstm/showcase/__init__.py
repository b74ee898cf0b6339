"""The app's per-request pipeline and its page files, beside the Gradio layout in app.py.

pipeline.py makes everything one prediction shows (players, curves, table; then filmstrip and downloads) and holds
the queue's limits; inside.py draws the cells' gates; guidance.py is the input fix for clips unlike the training
data; forms.py checks form values; workdirs.py gives each request its own folder. player.html / .css / .js are the
frame player (a gr.HTML template) and page.css the page's own rules.
"""
