"""Pure-Python pieces of the Microsoft Graph emulation: OData query evaluation and directory-object rules."""
