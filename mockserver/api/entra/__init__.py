"""Wire layer of Microsoft Entra: the login.microsoftonline.com endpoints and Microsoft Graph."""
