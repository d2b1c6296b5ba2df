resource "tls_private_key" "k" {
  algorithm = "ED25519"
}

output "key" {
  value = tls_private_key.k.private_key_pem
}
