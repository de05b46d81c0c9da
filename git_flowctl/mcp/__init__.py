"""The MCP server for coding agents (issue #18): tools.py (the tools, without the SDK),
server.py (the `mcp` SDK's stdio server around them)."""
