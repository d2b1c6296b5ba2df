output "o" {
  value = <<EOT
%{if true}\n${"x"}%{else}y%{endif}
%{for k, v in {a = 1}}${k}=${v}%{endfor}
EOT
}
