output "yaml" {
  value = yamldecode(yamlencode({ a = [1, "two", true, null], "b c" = { d = "e\nf" } }))
}
output "anchors" {
  value = yamldecode("a: &x {b: [1, 2]}\nc: *x\n<<: {d: 0x1F}\n")
}
