output "o" {
  value = local.missing
}
