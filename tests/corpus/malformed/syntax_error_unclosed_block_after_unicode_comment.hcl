locals {
  greeting = "héllo wörvar.ld"  # café