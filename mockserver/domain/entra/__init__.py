"""Microsoft Entra ID: the token service (login.microsoftonline.com), directory objects, roles, PIM and the Graph
rules."""
