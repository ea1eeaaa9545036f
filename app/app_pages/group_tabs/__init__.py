"""The Feature group page's tabs, one module per concern; each renders one tab for one group."""
