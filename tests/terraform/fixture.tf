# Locals shared by the differential corpus (tests/terraform_diff.rs): the same file is
# main.tf's head for Terraform and fixture.hcl for slipway's console.
locals {
  n       = 5
  neg     = -3
  f       = 2.5
  s       = "hello"
  e       = ""
  l       = [1, 2, 3]
  strs    = ["a", "b", "c"]
  words   = ["delta", "alpha", "charlie", "bravo"]
  m       = { a = 1, b = 2 }
  obj     = { name = "x", tags = ["t1", "t2"] }
  set     = toset(["b", "a", "c"])
  nset    = toset([3, 1, 2])
  list    = tolist(["x", "y"])
  map     = tomap({ k1 = "v1", k2 = "v2" })
  items   = [{ id = 1, name = "one" }, { id = 2, name = "two" }]
  nested  = { a = { b = { c = "deep" } } }
  t       = true
  nul     = null
  big     = 9007199254740993
  tpl     = "${local.n}"
  tpl_l   = "${local.l}"
  lol     = [[1, 2], [3], []]
  mixed   = [1, "two", true]
  cidr    = "10.0.0.0/16"
}
