"""The OverTrack plugin: the wire protocol, the Bottle app on waitress with in-place receive, reload, fault capture, and the client that posts frames."""
