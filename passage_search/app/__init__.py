"""The faces: the command line (cli*.py), the Streamlit page parts (page.py), the HTTP API (http.py)."""
