"""hybridsoa mock server: Exchange Online + Microsoft Entra + on-prem AD with Entra Connect."""
