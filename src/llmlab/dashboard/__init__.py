"""The lab dashboard (`llmlab dashboard`): a Streamlit page over runs/. See docs/dashboard.md.

catalog.py reads the run folders (plain files); app.py is the Streamlit script; cli.py starts it.
"""
