"""Wire layer of on-premises Active Directory: the LDAP listener."""
