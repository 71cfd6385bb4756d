-- APSIS records carry ids; the definition streams name them (README "APSIS definitions and
-- names"). Per event type: its name, how many events and profiles, and one profile's attributes
-- by name. `events.name` is APSIS's typeId, `profiles.attributes` is keyed by attribute id.
with named_attributes as (
  select p.profile_id, jsonb_object_agg(a.name, kv.value order by a.name) as attributes
  from profile_export.profiles p
  cross join lateral jsonb_each(p.attributes) as kv(attribute_id, value)
  join profile_export.apsis_attributes a
    on a.attribute_id = kv.attribute_id
   and p.sections -> a.section_id -> 'attributes' ? kv.attribute_id  -- the attribute's section
  where p.source = 'apsis' and a._sdc_deleted_at is null
  group by p.profile_id
)
select e.section_id, t.name as event_type, count(*) as events,
       count(distinct e.profile_id) as profiles,
       min(n.attributes::text) as first_profile_attributes
from profile_export.events e
join profile_export.apsis_event_types t
  on t.section_id = e.section_id and t.event_type_id = e.name
left join named_attributes n on n.profile_id = e.profile_id
where e.source = 'apsis' and t._sdc_deleted_at is null
group by e.section_id, t.name
order by e.section_id, t.name;
