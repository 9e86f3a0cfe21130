ngx.header.content_length = 5
ngx.print("hello")
