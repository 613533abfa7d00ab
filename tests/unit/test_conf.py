#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Options are registered and listed for oslo-config-generator."""

from __future__ import annotations

from importlib import metadata

from oslo_config import cfg

from nested_pivot import conf


def test_list_opts_lists_registered_options():
    listed = conf.list_opts()
    groups = {group.name: {o.dest for o in opts} for group, opts in listed}
    assert len(groups) == len(listed)
    assert {'search_budget', 'max_concurrency', 'max_retries',
            'conflict_retries'} <= groups['nested_pivot']
    # nova.conf's [placement] credentials, as keystoneauth1 names them.
    assert {'auth_type', 'endpoint_override', 'region_name',
            'valid_interfaces', 'cafile'} <= groups['placement']
    config = cfg.ConfigOpts()
    conf.register_opts(config)
    config([])
    assert config.nested_pivot.search_budget == 200000
    assert config.nested_pivot.max_concurrency == 8
    assert config.nested_pivot.max_retries == 5
    assert config.nested_pivot.conflict_retries == 5
    assert config.placement.service_type == 'placement'


def test_entry_point_is_declared():
    """Fails if setup.cfg loses the oslo.config.opts entry point, which
    `oslo-config-generator --namespace nested_pivot` needs."""
    points = metadata.entry_points(group='oslo.config.opts')
    assert any(p.name == 'nested_pivot' and
               p.value == 'nested_pivot.conf:list_opts' for p in points)


def test_sample_config_shows_the_runtime_defaults(tmp_path):
    """Fails if the generated sample shows <None> where nested_pivot sets
    nova's defaults at run time."""
    from oslo_config import generator

    out = tmp_path / 'sample.conf'
    generator.main(['--namespace', 'nested_pivot', '--output-file',
                    str(out)])
    text = out.read_text()
    assert '#service_type = placement\n' in text
    assert '#valid_interfaces = internal,public\n' in text
