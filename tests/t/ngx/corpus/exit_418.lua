ngx.exit(418)
