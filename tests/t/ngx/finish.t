# Work after the answer: ngx.eof() and req:finish() end the FastCGI
# request at once (the answer and END_REQUEST go out, a kept connection
# goes back to the dispatcher for its next request) while the handler
# runs on under its limits, its later output dropped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFTest qw(wait_for slurp);

my $t = LFTest->new(conf => { workers => 2, timeout => 3 });
my $mark = $t->dir . '/mark';
$t->script('eof.lua', <<"LUA");
ngx.say("answered")
local a, b = ngx.eof()
local c, d = ngx.eof()
local e, f = ngx.say("after")
ngx.sleep(1)
local out = io.open("$mark.eof", "w")
out:write(table.concat({ tostring(a), tostring(b), tostring(c), tostring(d), tostring(e), tostring(f) }, " "))
out:close()
LUA
$t->script('finish.lua', <<"LUA");
function main(env, req)
  req:header("X-Before", "yes")
  req:puts("finished")
  req:finish()
  req:finish()
  req:puts("dropped")
  local ok = pcall(req.header, req, "X-After", "no")
  ngx.sleep(1)
  local out = io.open("$mark.finish", "w")
  out:write("went on ", tostring(ok))
  out:close()
end
LUA
$t->script('spin.lua', qq{ngx.say("spinning")\nngx.eof()\nwhile true do end\n});
$t->script('hello.lua', qq{ngx.say("hello")\n});
$t->start;

sub params {
    my ($name) = @_;
    return { SCRIPT_FILENAME => $t->www . "/$name", REQUEST_METHOD => 'GET', QUERY_STRING => '',
             SERVER_PROTOCOL => 'HTTP/1.1', GATEWAY_INTERFACE => 'CGI/1.1', REMOTE_ADDR => '127.0.0.1' };
}

for my $case (['eof.lua', "answered\n", 'ngx.eof()'], ['finish.lua', 'finished', 'req:finish()']) {
    my ($script, $body, $what) = @$case;
    (my $which = $script) =~ s/\.lua$//;
    my $s = $t->connect or die "connect: $!";
    LFTest::write_all($s, LFTest::encode_request(params($script), '', keep_conn => 1));
    my $r = LFTest::read_response($s, timeout => 10);
    ok($r->{ended}, "$what: the FastCGI request ends (END_REQUEST)");
    is($r->{body}, $body, 'with the answer written before it');
    ok(!-e "$mark.$which", 'while the handler still runs');
    LFTest::write_all($s, LFTest::encode_request(params('hello.lua'), '', keep_conn => 1));
    my $next = LFTest::read_response($s, timeout => 10);
    is($next->{body}, "hello\n", 'the kept connection serves its next request meanwhile');
    ok(!-e "$mark.$which", 'before the first handler is done');
    close $s;
    ok(wait_for(sub { -s "$mark.$which" }, 10), 'the handler goes on to its end');
    is(slurp("$mark.$which"), $which eq 'eof' ? '1 nil nil seen eof nil seen eof' : 'went on false',
       $which eq 'eof' ? 'ngx.eof() again and ngx.say() after it return nil, "seen eof"'
                       : 'headers after req:finish() are refused');
    is($r->{headers}{'x-before'}, 'yes', 'headers set before it went out') if $which eq 'finish';
}

my $r = $t->get('spin.lua');
is($r->{body}, "spinning\n", 'ngx.eof() then an endless loop: the client has its answer');
ok($t->wait_log(qr/spin\.lua: 500 Internal Server Error: timeout/, 10), 'the timeout ends the handler, logged');
is($t->get('hello.lua')->{body}, "hello\n", 'and the daemon serves on');

$t->stop;
done_testing;
