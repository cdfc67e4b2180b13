"""The handheld's touch screen: a local web page (FastAPI, served by uvicorn on 127.0.0.1) shown by kiosk Chromium."""
