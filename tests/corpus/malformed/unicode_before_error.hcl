locals {
  greeting = "héllo wörld ☃"  # café
  x        = local.nope
}
