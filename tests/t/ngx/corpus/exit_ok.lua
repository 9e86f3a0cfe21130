ngx.status = 202
ngx.exit(ngx.OK)
