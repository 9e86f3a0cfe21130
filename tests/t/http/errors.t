# Answers that are not the script's: every error status, its page, its log line.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(spew);

my $t = LFTest->new(conf => { workers => 2, maxpost => 1000, showerrors => 1 });
my $www = $t->www;
$t->script('ok.lua', "function main(env, req) req:puts('fine') end\n");
$t->script('syntax.lua', "function main(env, req)\n  req:puts('x'\nend\n");
$t->script('runtime.lua', "function main(env, req)\n  local t = nil\n  req:puts(t.field)\nend\n");
$t->script('toplevel.lua', "error('broken at load <script>')\nfunction main() end\n");
$t->script('nohandler.lua', "x = 1\n");
$t->script('table_error.lua', "function main(env, req) error({ code = 7 }) end\n");
$t->script('tostring_error.lua', <<'LUA');
local E = setmetatable({}, { __tostring = function() return "custom error object" end })
function main(env, req) error(E) end
LUA
$t->script('html_error.lua', "function main(env, req) error('<img src=x onerror=alert(1)>', 0) end\n");
$t->script('after_flush.lua', "function main(env, req)\n  req:puts('partial;')\n  req:flush()\n  error('late failure')\nend\n");
$t->script('notes.txt', "function main(env, req) req:puts('should not run') end\n");
$t->script('post.lua', "function main(env, req) req:puts(#(req:gets() or '')) end\n");
$t->script('counter.lua', "n = 0\nfunction main(env, req) n = n + 1 if n == 2 then error('second fails') end req:puts(n) end\n");
mkdir "$www/dir.lua";
mkdir $t->dir . '/outside';
spew($t->dir . '/outside/secret.lua', "function main(env, req) req:puts('secret') end\n");
symlink($t->dir . '/outside/secret.lua', "$www/link.lua");
symlink("$www/loop-b.lua", "$www/loop-a.lua");     # a loop: ELOOP
symlink("$www/loop-a.lua", "$www/loop-b.lua");
$t->start;

sub error_is {
    my ($r, $status, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    like($r->{body}, qr{<title>$status [A-Z]}, "$name: a small HTML page");
    like($r->{headers}{'content-type'} // '', qr{^text/html}, "$name: as text/html");
}

my $r = $t->fcgi({ REQUEST_METHOD => 'GET' }, '');
error_is($r, 404, 'no SCRIPT_FILENAME');
ok($t->wait_log(qr/\[warn\] worker \d+ request \S+: -: 404 Not Found: no SCRIPT_FILENAME/), 'logged with the reason');
# present but empty is missing too (SPEC), with or without a root to walk
error_is($t->get('ok.lua', SCRIPT_FILENAME => ''), 404, 'an empty SCRIPT_FILENAME');
error_is($t->get('ok.lua', SCRIPT_FILENAME => '', SCRIPT_NAME => '', DOCUMENT_ROOT => $www), 404,
         'an empty SCRIPT_FILENAME and SCRIPT_NAME under a DOCUMENT_ROOT');

error_is($t->get('missing.lua'), 404, 'a script that does not exist');
ok($t->wait_log(qr/missing\.lua: 404 Not Found: No such file/), 'logged with the script and reason');
error_is($t->get('dir.lua'), 404, 'a directory');
ok($t->wait_log(qr/dir\.lua: 404 Not Found: not a regular file/), 'logged as not a regular file');

# as nginx answers for a static file behind a symlink loop
error_is($t->get('loop-a.lua'), 403, 'a symlink loop');
ok($t->wait_log(qr/loop-a\.lua: 403 Forbidden: Too many levels of symbolic links/), 'logged with the reason');

error_is($t->get('notes.txt'), 403, 'an ending not in extensions');
ok($t->wait_log(qr/notes\.txt: 403 Forbidden: .*extension/), 'logged as a bad extension');

$r = $t->get('post.lua', STDIN => 'x' x 1001);
error_is($r, 413, 'a body over maxpost (by CONTENT_LENGTH)');
ok($t->wait_log(qr/post\.lua: 413 .*over maxpost 1000/), 'logged with the limit');
$r = $t->fcgi({ SCRIPT_FILENAME => "$www/post.lua", REQUEST_METHOD => 'POST' }, 'y' x 5000);
error_is($r, 413, 'a body over maxpost without CONTENT_LENGTH');
is($t->get('post.lua', STDIN => 'z' x 1000)->{body}, '1000', 'a body of exactly maxpost is accepted');

$r = $t->get('syntax.lua');
error_is($r, 500, 'a syntax error');
like($r->{body}, qr/syntax\.lua:3:/, 'with showerrors the page shows the file and line');
ok($t->wait_log(qr/\[error\] worker \d+ request \S+: \S+syntax\.lua: 500 Internal Server Error: load error: \S+syntax\.lua:3:/),
   'logged with script and reason');

$r = $t->get('runtime.lua');
error_is($r, 500, 'a runtime error');
like($r->{body}, qr/runtime\.lua:3: attempt to index local &#39;t&#39;/, 'the page shows the error, HTML-escaped');
like($r->{body}, qr/stack traceback/, 'with a traceback');

error_is($t->get('toplevel.lua'), 500, 'an error in the top-level code');
like($t->get('toplevel.lua')->{body}, qr/broken at load &lt;script&gt;/, 'shown escaped');

$r = $t->get('nohandler.lua');
error_is($r, 500, 'no handler function');
like($r->{body}, qr/no handler function &#39;main&#39;/, 'the page says so');

$r = $t->get('table_error.lua');
error_is($r, 500, 'an error object that is a table');
like($r->{body}, qr/error object is a table value/, 'is reported sensibly');
like($t->get('tostring_error.lua')->{body}, qr/custom error object/, 'an error object with __tostring uses it');

$r = $t->get('html_error.lua');
unlike($r->{body}, qr/<img/, 'an error message is never raw HTML in the page');
like($r->{body}, qr/&lt;img src=x onerror=alert\(1\)&gt;/, 'it is escaped');

$r = $t->get('after_flush.lua');
is($r->{status}, 200, 'an error after a flush keeps the status already sent');
is($r->{body}, 'partial;', 'the response ends where it was');
ok($t->wait_log(qr/after_flush\.lua: headers were already sent; the response is cut short/), 'and the error is logged');

is($t->get('counter.lua')->{body}, '1', 'a state before a runtime error');
is($t->get('counter.lua')->{status}, 500, 'a runtime error');
is($t->get('counter.lua')->{body}, '3', 'keeps its state: a script error says nothing bad about the state');

# docroot: only scripts under it, symlinks and .. resolved
$t->write_conf(docroot => $www);
$t->signal('HUP');
ok($t->wait_log(qr/reloaded/), 'reload with docroot');
is($t->get('ok.lua')->{body}, 'fine', 'a script under docroot runs');
error_is($t->get($t->dir . '/outside/secret.lua'), 403, 'a script outside docroot');
error_is($t->get('link.lua'), 403, 'a symlink from inside docroot to outside');
error_is($t->get("$www/../outside/secret.lua"), 403, 'a .. path out of docroot');
ok($t->wait_log(qr/403 Forbidden: the script is outside docroot/), 'logged as outside docroot');
error_is($t->get('ok.lua', SCRIPT_FILENAME => ''), 404, 'with docroot, an empty SCRIPT_FILENAME');

# without showerrors the page says nothing about the script
$t->write_conf(showerrors => 0, docroot => undef);
delete $t->{conf}{docroot};
$t->write_conf;
$t->signal('HUP');
ok($t->wait_log(qr/reloaded.*\n(?:.*\n)*.*reloaded/), 'reload with showerrors = false');
$r = $t->get('runtime.lua');
is($r->{status}, 500, 'still a 500');
unlike($r->{body}, qr/runtime\.lua|attempt to index/, 'but the page does not show the error');
ok($t->can_connect, 'after all of this the daemon is serving');
is($t->get('ok.lua')->{body}, 'fine', 'and answers a good request');
is($t->stop, 0, 'and stops cleanly');
done_testing;
