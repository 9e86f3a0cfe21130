ngx.status = 404
ngx.exit(200)
